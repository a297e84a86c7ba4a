package operator

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aima-dev/aima/state"
)

// ConversationsDir holds one JSON file per conversation, under .local/:
// never committed, kept across restarts.
const ConversationsDir = ".local/conversations"

// Conversation is one operator chat as it is kept: the messages in the
// OpenAI chat form (user, assistant with its tool calls, tool results),
// without the system message, which is written afresh each turn.
type Conversation struct {
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	LLM      string    `json:"llm,omitempty"`
	Messages []Message `json:"messages"`
	// Proposal is the change set the conversation proposed, last or
	// pending.
	Proposal *Proposal `json:"proposal,omitempty"`
}

// Proposal is a change set made on a branch for review.
type Proposal struct {
	Branch string `json:"branch"` // agent/<conversation>
	Base   string `json:"base"`   // the commit of the working branch it started from
	// Status is StatusProposed, StatusApproved or StatusRejected.
	Status  string   `json:"status"`
	Changes []string `json:"changes"`          // the commit subjects on the branch
	Commit  string   `json:"commit,omitempty"` // approved: the merge commit
	By      string   `json:"by,omitempty"`     // who approved or rejected it
}

// Proposal statuses.
const (
	StatusProposed = "proposed"
	StatusApproved = "approved"
	StatusRejected = "rejected"
)

// Message is a chat message in OpenAI's form.
type Message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// ToolCall is a model's call of a tool.
type ToolCall struct {
	ID       string   `json:"id"`
	Type     string   `json:"type"`
	Function Function `json:"function"`
}

// Function is the called tool and its arguments (a JSON object as text).
type Function struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

func (o *Operator) convPath(id string) string {
	return filepath.Join(o.env.Store.Dir, filepath.FromSlash(ConversationsDir), id+".json")
}

// newID is a conversation id: a valid object name, so also a branch name.
func newID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "c" + hex.EncodeToString(b[:])
}

func checkID(id string) error {
	if err := state.CheckName("conversation", id); err != nil {
		return err
	}
	return nil
}

// load reads conversation id (ErrNotFound when there is none).
func (o *Operator) load(id string) (*Conversation, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(o.convPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("conversation %s: %w (aima agent list)", id, state.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var c Conversation
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("conversation %s: %s: %w", id, o.convPath(id), err)
	}
	return &c, nil
}

// save writes c atomically (a crash leaves the previous version).
func (o *Operator) save(c *Conversation) error {
	c.Updated = o.now()
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.convPath(c.ID)), 0o700); err != nil {
		return err
	}
	return state.WriteFile(o.convPath(c.ID), b)
}

// List is every conversation, newest first: id, when, the first question,
// the number of messages and the proposal's status.
func (o *Operator) List() ([]map[string]any, error) {
	dir := filepath.Join(o.env.Store.Dir, filepath.FromSlash(ConversationsDir))
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var convs []*Conversation
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || checkID(id) != nil {
			continue
		}
		c, err := o.load(id)
		if err != nil {
			continue
		}
		convs = append(convs, c)
	}
	sort.Slice(convs, func(i, j int) bool { return convs[i].Updated.After(convs[j].Updated) })
	items := []map[string]any{}
	for _, c := range convs {
		it := map[string]any{"id": c.ID, "name": c.ID, "created": c.Created, "updated": c.Updated, "llm": c.LLM,
			"messages": len(c.Messages), "title": c.title(), "proposal": ""}
		if c.Proposal != nil {
			it["proposal"] = c.Proposal.Status
		}
		items = append(items, it)
	}
	return items, nil
}

// title is the conversation's first question, cut short.
func (c *Conversation) title() string {
	for _, m := range c.Messages {
		if m.Role == "user" {
			t := strings.Join(strings.Fields(m.Content), " ")
			if len(t) > 60 {
				t = t[:57] + "..."
			}
			return t
		}
	}
	return ""
}

// Show is a conversation with its messages and, when it proposed a change
// set, the branch, its commits and its diff.
func (o *Operator) Show(id string) (map[string]any, error) {
	c, err := o.load(id)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"id": c.ID, "name": c.ID, "created": c.Created, "updated": c.Updated, "llm": c.LLM, "messages": c.Messages}
	if p := c.Proposal; p != nil {
		pm := map[string]any{"branch": p.Branch, "base": p.Base, "status": p.Status, "changes": p.Changes, "commit": p.Commit, "by": p.By}
		if p.Status == StatusProposed {
			diff, err := o.diff(p)
			if err != nil {
				return nil, err
			}
			pm["diff"] = diff
		}
		out["proposal"] = pm
	}
	return out, nil
}

// Delete removes conversation id; a change set it proposed is dropped.
func (o *Operator) Delete(id string) error {
	unlock := o.lock(id)
	defer unlock()
	c, err := o.load(id)
	if err != nil {
		return err
	}
	if c.Proposal != nil && c.Proposal.Status == StatusProposed {
		if err := o.drop(c.Proposal); err != nil {
			return err
		}
	}
	return state.RemoveFile(o.convPath(id))
}

package unit

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aima-dev/aima/state"
)

// Operator is the operator's side of the agent domain: its conversations
// and the changes it proposed (agent/operator implements it). The chat
// itself streams, so it is a route of its own (POST /api/agent/chat), not
// a unit.
type Operator interface {
	// List is every conversation, newest first.
	List() ([]map[string]any, error)
	// Show is one conversation with its messages and, when it proposed
	// changes, their branch, commits and diff.
	Show(id string) (map[string]any, error)
	// Delete removes a conversation and drops a change it proposed.
	Delete(id string) error
	// Approve merges the proposed change set into the working branch as
	// one commit by env's author, then converges what it changed.
	Approve(ctx context.Context, env *Env, id string) (map[string]any, error)
	// Reject drops the proposed change set (its branch).
	Reject(id string) (map[string]any, error)
}

// ConversationRequest names a conversation.
type ConversationRequest struct {
	// The conversation's id (aima agent list).
	ID string `json:"id"`
}

func (e *Env) operator() (Operator, error) {
	if e.Operator == nil {
		return nil, fmt.Errorf("%w: the operator is not available here", state.ErrInvalid)
	}
	return e.Operator, nil
}

// addAgent adds the agent domain: the operator's conversations and the
// review of what it proposed.
func addAgent(r *Registry) {
	withID := func(name, desc string, read bool, fn func(ctx context.Context, env *Env, op Operator, id string) (map[string]any, error)) {
		r.Add(Typed(Unit{Name: name, Description: desc, Read: read}, func(ctx context.Context, env *Env, req ConversationRequest) (map[string]any, error) {
			if req.ID == "" {
				return nil, invalidField("/id", "id is required: the conversation (aima agent list)")
			}
			op, err := env.operator()
			if err != nil {
				return nil, err
			}
			return fn(ctx, env, op, req.ID)
		}))
	}
	r.Add(Unit{Name: "agent.list", Description: "The operator's conversations, newest first, each with its proposed change set's status", Read: true,
		Request: reflectType[struct{}](), Response: reflectType[ListAnswer](),
		Run: func(ctx context.Context, env *Env, _ map[string]any) (map[string]any, error) {
			if env.Operator == nil {
				out := List(nil)
				out["note"] = "the operator is not available here"
				return out, nil
			}
			items, err := env.Operator.List()
			return List(items), err
		}})
	withID("agent.show", "One conversation: its messages, tool calls and the diff of the change set it proposed", true,
		func(_ context.Context, _ *Env, op Operator, id string) (map[string]any, error) { return op.Show(id) })
	withID("agent.delete", "Delete a conversation (a change set it proposed is dropped)", false,
		func(_ context.Context, _ *Env, op Operator, id string) (map[string]any, error) {
			return map[string]any{"id": id, "deleted": true}, op.Delete(id)
		})
	withID("agent.approve", "Apply the change set a conversation proposed (its branch agent/<id>): one merge commit by the approver, then the containers converge", false,
		func(ctx context.Context, env *Env, op Operator, id string) (map[string]any, error) {
			return op.Approve(ctx, env, id)
		})
	withID("agent.reject", "Drop the change set a conversation proposed (its branch agent/<id>)", false,
		func(_ context.Context, _ *Env, op Operator, id string) (map[string]any, error) { return op.Reject(id) })
}

// ErrorText is a unit's error as an AI client reads it: the error kind
// (state.Code: invalid, not_found, exists, conflict, unavailable,
// timeout), the message and each field that was wrong.
func ErrorText(name string, err error) string {
	var b strings.Builder
	var ie *state.InvalidError
	if errors.As(err, &ie) {
		fmt.Fprintf(&b, "%s failed (invalid): correct these and call it again:", name)
		for _, p := range ie.Problems {
			b.WriteString("\n- " + strings.TrimPrefix(p.String(), "/"))
		}
		return b.String()
	}
	fmt.Fprintf(&b, "%s failed (%s): %v", name, state.Code(err), err)
	return b.String()
}

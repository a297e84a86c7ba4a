package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/api"
	"github.com/aima-dev/aima/agent/daemon"
	"github.com/aima-dev/aima/agent/operator"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

// agentOptions are the flags of a turn (ask and chat).
type agentOptions struct {
	llm          string
	conversation string
	yes          bool
	maxRounds    int
}

func (o *agentOptions) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.llm, "llm", "", "the model to talk to: one served by aima (default: llm in .aima/.local/settings.yaml, else the only model running)")
	f.StringVarP(&o.conversation, "conversation", "c", "", "continue this conversation (aima agent list)")
	f.BoolVarP(&o.yes, "yes", "y", false, "run writes at once (commits by aima-agent) instead of proposing them on a branch for review")
	f.IntVar(&o.maxRounds, "max-rounds", operator.DefaultMaxRounds, "stop after this many answers of the model in one turn")
}

func newAgentCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "The operator: an LLM that runs aima through its own operations, its changes reviewed in git",
		Long: "agent talks to an OpenAI-compatible model with tool calling whose tools are aima's operations\n" +
			"(the same as MCP's). Reads run at once. Writes are proposed: each is a commit on the branch\n" +
			"agent/<conversation>, nothing applied, until you approve it (one merge commit by you; the\n" +
			"containers converge) or reject it; with --yes they run at once, committed by aima-agent with a\n" +
			"\"Conversation: ID\" trailer. The model: --llm MODEL (served by aima), or llm in\n" +
			".aima/.local/settings.yaml ({model: NAME}, or {endpoint: URL, model: NAME, api_key: ${env:VAR}}\n" +
			"for any OpenAI-compatible endpoint), else the only model running. Conversations are kept in\n" +
			".aima/.local/conversations/.",
		GroupID: "domains",
	}
	cmd.AddCommand(newAgentAskCmd(g), newAgentChatCmd(g))
	for _, v := range []struct{ verb, use, short string }{
		{"show", "show ID", "Show a conversation: its messages, tool calls and the diff of what it proposed"},
		{"delete", "delete ID", "Delete a conversation (what it proposed is dropped)"},
		{"approve", "approve ID", "Apply what a conversation proposed: one merge commit by you, then the containers converge"},
		{"reject", "reject ID", "Drop what a conversation proposed (its branch)"},
	} {
		cmd.AddCommand(newAgentIDCmd(g, v.verb, v.use, v.short))
	}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List the operator's conversations, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := callUnit(cmd.Context(), g, "agent.list", nil, false)
			if err != nil {
				return err
			}
			return printUnitOutput(cmd.OutOrStdout(), g, out, []string{"id", "updated", "messages", "proposal", "title"})
		},
	})
	return cmd
}

// newAgentIDCmd is a verb on one conversation: a unit of the agent domain.
func newAgentIDCmd(g *globals, verb, use, short string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			env, done, err := operatorEnv(g, verb == "approve") // approve converges what it changed
			if err != nil {
				return err
			}
			defer done()
			out, err := unit.Default.Call(ctx, env, "agent."+verb, map[string]any{"id": args[0]})
			if err != nil {
				return fieldError(err)
			}
			w := cmd.OutOrStdout()
			if g.output != "table" {
				return printObject(w, g.output, out)
			}
			switch verb {
			case "show":
				printConversation(w, out)
			case "delete":
				fmt.Fprintf(w, "conversation %s deleted\n", args[0])
			case "approve":
				fmt.Fprintf(w, "approved %s: %v (commit %.12s)\n", args[0], strings.Join(toStrings(out["paths"]), ", "), out["commit"])
				for _, p := range toStrings(out["problems"]) {
					fmt.Fprintln(cmd.ErrOrStderr(), "  not converged:", p)
				}
			case "reject":
				fmt.Fprintf(w, "rejected %s: %s\n", args[0], strings.Join(toStrings(out["changes"]), "; "))
			}
			return nil
		},
	}
}

func toStrings(v any) []string {
	switch v := v.(type) {
	case []string:
		return v
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = fmt.Sprint(x)
		}
		return out
	}
	return nil
}

func newAgentAskCmd(g *globals) *cobra.Command {
	var o agentOptions
	cmd := &cobra.Command{
		Use:   "ask MESSAGE",
		Short: "Ask the operator one thing (one turn); its tool calls and answer are printed as they come",
		Example: "  aima agent ask \"what is running?\"\n" +
			"  aima agent ask --llm qwen \"deploy a small chat model and test it\"\n" +
			"  aima agent ask -c c1a2b3c4d \"and why did it fail?\"",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op, done, err := o.operator(g)
			if err != nil {
				return err
			}
			defer done()
			_, err = askTurn(cmd.Context(), g, op, &o, strings.Join(args, " "), cmd.OutOrStdout(), cmd.ErrOrStderr())
			return err
		},
	}
	o.register(cmd)
	return cmd
}

func newAgentChatCmd(g *globals) *cobra.Command {
	var o agentOptions
	cmd := &cobra.Command{
		Use:   "chat",
		Short: "Talk with the operator: one turn per line of input, the conversation kept (end with EOF or /exit)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			op, done, err := o.operator(g)
			if err != nil {
				return err
			}
			defer done()
			in := bufio.NewScanner(cmd.InOrStdin())
			in.Buffer(make([]byte, 64<<10), 1<<20)
			errw := cmd.ErrOrStderr()
			for {
				fmt.Fprint(errw, "> ")
				if !in.Scan() {
					fmt.Fprintln(errw)
					return in.Err()
				}
				line := strings.TrimSpace(in.Text())
				switch line {
				case "":
					continue
				case "/exit", "/quit":
					return nil
				}
				res, err := askTurn(cmd.Context(), g, op, &o, line, cmd.OutOrStdout(), errw)
				if res.Conversation != "" {
					o.conversation = res.Conversation
				}
				if errors.Is(err, operator.ErrNoLLM) {
					return err
				}
				if err != nil {
					fmt.Fprintln(errw, "aima:", err) // the conversation goes on
				}
			}
		},
	}
	o.register(cmd)
	return cmd
}

// stopError: the turn hit the round limit (exit code 1, the conversation
// kept).
type stopError struct{ msg string }

func (e *stopError) Error() string { return e.msg }

// askTurn runs one turn, printing each tool call and the answer (or, with
// -o json|yaml, the result alone).
func askTurn(ctx context.Context, g *globals, op *operator.Operator, o *agentOptions, message string, w, errw io.Writer) (operator.Result, error) {
	if o.yes {
		ctx = state.WithAuthor(ctx, operator.Author)
	}
	req := operator.Request{Message: message, LLM: o.llm, Conversation: o.conversation, Yes: o.yes, MaxRounds: o.maxRounds}
	table := g.output == "table"
	midLine := false // text of the model's printed, its line not ended
	endLine := func() {
		if midLine {
			fmt.Fprintln(w)
			midLine = false
		}
	}
	res, err := op.Ask(ctx, req, func(ev operator.Event) {
		if !table {
			return
		}
		switch ev.Type {
		case "start":
			fmt.Fprintf(errw, "conversation %s with %s\n", ev.Conversation, ev.LLM)
		case "delta":
			fmt.Fprint(w, ev.Content)
			midLine = !strings.HasSuffix(ev.Content, "\n")
		case "tool":
			endLine()
			mark := "→"
			switch {
			case ev.Error:
				mark = "✗"
			case ev.Proposed:
				mark = "→ proposed:"
			}
			fmt.Fprintf(w, "[%d] %s %s\n    %s %s\n", ev.Round, ev.Tool, oneLine(ev.Arguments, 200), mark, oneLine(ev.Result, 300))
		case "answer", "stop":
			endLine() // the answer came as deltas
		}
	})
	if err != nil {
		return res, err
	}
	if !table {
		if err := printObject(w, g.output, mustAnswer(res)); err != nil {
			return res, err
		}
	} else if p := res.Proposal; p != nil {
		fmt.Fprintf(w, "\nproposed on branch %s, not applied (%d change(s): %s)\n  review: aima agent show %s\n  then:   aima agent approve %s   or   aima agent reject %s\n",
			p.Branch, len(p.Changes), strings.Join(p.Changes, "; "), res.Conversation, res.Conversation, res.Conversation)
	}
	if res.Stopped != "" {
		return res, &stopError{res.Stopped}
	}
	return res, nil
}

func mustAnswer(v any) map[string]any {
	m, err := unit.Answer(v)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	return m
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

// operatorEnv is the units' environment of the command line, with Docker
// when it can be reached (needed for a model served by aima and the
// container operations; the rest works without).
func operatorEnv(g *globals, docker bool) (*unit.Env, func(), error) {
	st, err := g.store()
	if err != nil {
		return nil, nil, err
	}
	var s *agent.Syncer
	done := func() {}
	if docker {
		if syncer, rt, err := agent.NewSyncer(st, nil); err == nil {
			s, done = syncer, func() { rt.Close() }
		}
	}
	return daemon.UnitEnv(st, s, nil), done, nil
}

// operator is the operator of the command line: it runs the operations
// in this process, and reaches a model served by aima through the running
// agent's gateway when there is one.
func (o *agentOptions) operator(g *globals) (*operator.Operator, func(), error) {
	if o.maxRounds < 1 {
		return nil, nil, fmt.Errorf("--max-rounds: %d: want 1 or more", o.maxRounds)
	}
	env, done, err := operatorEnv(g, true)
	if err != nil {
		return nil, nil, err
	}
	dir := env.Store.Dir
	return operator.New(operator.Options{Env: env, Gateway: func() (string, string, bool) {
		info, ok := daemon.ReadAgentInfo(dir)
		if !ok {
			return "", "", false
		}
		url := "http://" + info.Addr
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/health", nil)
		if err != nil {
			return "", "", false
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", "", false
		}
		resp.Body.Close()
		return url, api.ClientToken(dir), resp.StatusCode == http.StatusOK
	}}), done, nil
}

// printConversation writes agent show's answer for a reader.
func printConversation(w io.Writer, c map[string]any) {
	updated, _ := c["updated"].(time.Time)
	fmt.Fprintf(w, "conversation %v with %v, updated %s\n\n", c["id"], c["llm"], updated.Local().Format("2006-01-02 15:04:05"))
	msgs, _ := c["messages"].([]operator.Message)
	for _, m := range msgs {
		switch {
		case m.Role == "user":
			fmt.Fprintf(w, "you: %s\n", strings.ReplaceAll(strings.TrimSpace(m.Content), "\n", "\n     "))
		case m.Role == "tool":
			fmt.Fprintf(w, "    → %s\n", oneLine(m.Content, 300))
		case len(m.ToolCalls) > 0:
			for _, tc := range m.ToolCalls {
				fmt.Fprintf(w, "operator calls %s %s\n", tc.Function.Name, oneLine(tc.Function.Arguments, 200))
			}
		default:
			fmt.Fprintf(w, "operator: %s\n", m.Content)
		}
	}
	p, _ := c["proposal"].(map[string]any)
	if p == nil {
		return
	}
	fmt.Fprintf(w, "\nchange set on %v: %v", p["branch"], p["status"])
	if by, _ := p["by"].(string); by != "" {
		fmt.Fprintf(w, " by %s", by)
	}
	if commit, _ := p["commit"].(string); commit != "" {
		fmt.Fprintf(w, " (commit %.12s)", commit)
	}
	fmt.Fprintln(w)
	for _, ch := range toStrings(p["changes"]) {
		fmt.Fprintln(w, "  "+ch)
	}
	if diff, _ := p["diff"].(string); diff != "" {
		fmt.Fprintln(w)
		fmt.Fprint(w, diff)
		if p["status"] == operator.StatusProposed {
			fmt.Fprintf(w, "\napprove: aima agent approve %v   reject: aima agent reject %v\n", c["id"], c["id"])
		}
	}
}

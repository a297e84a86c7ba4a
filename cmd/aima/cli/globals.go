package cli

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5/config"
	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent/daemon"
	"github.com/aima-dev/aima/state"
	"github.com/aima-dev/aima/state/repo"
)

// globals are the persistent flags every command shares.
type globals struct {
	dir    string
	author string
	output string
}

func (g *globals) register(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&g.dir, "dir", "", "state directory (default: $AIMA_DIR, the nearest .aima/, or ~/.aima)")
	pf.StringVar(&g.author, "author", "", `commit author as "Name <email>" (default: $AIMA_AUTHOR, git config, or aima)`)
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table, json or yaml")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
}

// store opens the state directory the flags and environment select.
func (g *globals) store() (*state.Store, error) {
	if g.output != "table" && g.output != "json" && g.output != "yaml" {
		return nil, fmt.Errorf("--output: unknown format %q (table, json, yaml)", g.output)
	}
	dir, err := state.FindDir(g.dir)
	if err != nil {
		return nil, err
	}
	st, err := daemon.OpenStore(dir) // with the unit registry and the pipeline runs' checks
	if err != nil {
		return nil, err
	}
	st.Author, err = g.signature()
	return st, err
}

var authorRE = regexp.MustCompile(`^\s*([^<>]+?)\s*<([^<>\s]+)>\s*$`)

// signature chooses the commit author: --author, $AIMA_AUTHOR, git config
// (user.name, user.email), else "aima".
func (g *globals) signature() (repo.Signature, error) {
	for _, src := range []struct{ name, val string }{{"--author", g.author}, {"AIMA_AUTHOR", os.Getenv("AIMA_AUTHOR")}} {
		if src.val == "" {
			continue
		}
		if m := authorRE.FindStringSubmatch(src.val); m != nil {
			return repo.Signature{Name: m[1], Email: m[2]}, nil
		}
		if !strings.ContainsAny(src.val, "<>\n") {
			return repo.Signature{Name: strings.TrimSpace(src.val), Email: "aima@localhost"}, nil
		}
		return repo.Signature{}, fmt.Errorf("%s: %q is not \"Name <email>\"", src.name, src.val)
	}
	if cfg, err := config.LoadConfig(config.GlobalScope); err == nil && cfg.User.Name != "" {
		email := cfg.User.Email
		if email == "" {
			email = "aima@localhost"
		}
		return repo.Signature{Name: cfg.User.Name, Email: email}, nil
	}
	return repo.Signature{Name: "aima", Email: "aima@localhost"}, nil
}

// fieldError rewrites a state error for the command line: problems about
// fields name the flag that sets them.
func fieldError(err error) error { return flagError(nil, err) }

// flagError is fieldError for a command: a field is shown with the flag
// that sets it when the command has one, else with a hint to use -f.
func flagError(cmd *cobra.Command, err error) error {
	var ie *state.InvalidError
	if !errors.As(err, &ie) {
		return err
	}
	var b strings.Builder
	for i, p := range ie.Problems {
		if i > 0 {
			b.WriteString("\n  ")
		}
		if p.File != "" {
			b.WriteString(p.File)
			if p.Line > 0 {
				fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
			}
			b.WriteString(": ")
		}
		if p.Field != "" {
			f := strings.TrimPrefix(p.Field, "/")
			flag := strings.NewReplacer("/", "-", "_", "-").Replace(f)
			first, key, nested := strings.Cut(f, "/")
			mapFlag := strings.ReplaceAll(first, "_", "-")
			switch {
			case cmd != nil && p.File == "" && cmd.Flags().Lookup(flag) != nil:
				fmt.Fprintf(&b, "%s (--%s): ", strings.ReplaceAll(f, "/", "."), flag)
			case cmd != nil && p.File == "" && nested && !strings.Contains(key, "/") && cmd.Flags().Lookup(mapFlag) != nil && cmd.Flags().Lookup(mapFlag).Value.Type() == "stringArray":
				fmt.Fprintf(&b, "%s (--%s %s=...): ", strings.ReplaceAll(f, "/", "."), mapFlag, key)
			case cmd != nil && p.File == "" && cmd.Flags().Lookup("file") != nil && !strings.HasPrefix(p.Message, "unknown field"):
				fmt.Fprintf(&b, "%s (set it with -f FILE): ", strings.ReplaceAll(f, "/", "."))
			default:
				fmt.Fprintf(&b, "%s: ", strings.ReplaceAll(f, "/", "."))
			}
		}
		b.WriteString(p.Message)
	}
	return &kindError{msg: b.String(), err: err}
}

package cli

import (
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent"
)

type startOptions struct {
	addr     string
	token    string
	verbose  bool
	follow   string
	interval time.Duration
}

func newStartCmd(g *globals) *cobra.Command {
	o := &startOptions{}
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run the agent: HTTP API, file watcher and sync loop (containers keep running when it stops)",
		Long: "start serves the HTTP API (default 127.0.0.1:9090), watches the state directory and converges\n" +
			"Docker to it. On start it commits edits made while it was down, re-observes Docker and\n" +
			"converges. SIGTERM finishes in-flight requests and exits 0; containers keep running.\n" +
			"A non-loopback --addr needs --token (or AIMA_TOKEN).\n\n" +
			"--follow REMOTE/BRANCH (default: remote in aima.yaml) fetches the branch every --interval\n" +
			"(jittered) and on POST /api/sync, and applies valid revisions as aima pull does; aima status\n" +
			"shows the applied revision and the last error. An unreachable remote is retried.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			debug.SetGCPercent(100) // long-running: the default keeps RSS low
			st, err := g.store()
			if err != nil {
				return err
			}
			if o.token == "" {
				o.token = os.Getenv("AIMA_TOKEN")
			}
			level := slog.LevelInfo
			if o.verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			return agent.Run(cmd.Context(), agent.Options{Dir: st.Dir, Addr: o.addr, Token: o.token, Version: Version, Log: log,
				Follow: o.follow, FollowInterval: o.interval})
		},
	}
	cmd.Flags().StringVar(&o.addr, "addr", "", "API listen address (default: api in aima.yaml, 127.0.0.1:9090)")
	cmd.Flags().StringVar(&o.token, "token", "", "bearer token required by the API (default $AIMA_TOKEN): a secret, or NAME=SECRET,NAME2=SECRET2 (writes commit as NAME); required off loopback")
	cmd.Flags().StringVar(&o.follow, "follow", "", "follow a remote branch, as REMOTE/BRANCH (e.g. origin/main)")
	cmd.Flags().DurationVar(&o.interval, "interval", agent.DefaultFollowInterval, "with --follow: how often to fetch")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "log every sync operation and pull progress")
	return cmd
}

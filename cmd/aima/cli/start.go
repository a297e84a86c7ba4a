package cli

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent/api"
	"github.com/aima-dev/aima/agent/daemon"
	"github.com/aima-dev/aima/state"
)

type startOptions struct {
	host      string
	addr      string
	token     string
	tokenFile string
	verbose   bool
	follow    string
	interval  time.Duration
	trust     state.PullOptions
	// runtime, kubeconfig, namespace: the container runtime, remembered
	// in .local/settings.yaml as --host is.
	runtime    string
	kubeconfig string
	namespace  string
}

func newStartCmd(g *globals) *cobra.Command {
	o := &startOptions{}
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run the agent: HTTP API, file watcher and sync loop (containers keep running when it stops)",
		Long: "start serves the HTTP API (default 127.0.0.1:9090), watches the state directory and converges\n" +
			"Docker to it. On start it commits edits made while it was down, re-observes Docker and\n" +
			"converges. SIGTERM finishes in-flight requests and exits 0; containers keep running.\n" +
			"The API always needs a bearer token: the owner's is generated into .aima/.local/token\n" +
			"(mode 0600) on the first start and the CLI reads it from there. More tokens (for other\n" +
			"machines, CI, a team) come from AIMA_TOKEN or --token-file: a secret, or NAME=SECRET pairs\n" +
			"whose writes commit as NAME. Requests must come to a loopback Host (or one listed in\n" +
			".local/settings.yaml allowed_hosts) and not from another web site (cors_origins).\n\n" +
			"--follow REMOTE/BRANCH (default: remote in aima.yaml) fetches the branch every --interval\n" +
			"(jittered) and on POST /api/sync, and applies valid revisions as aima pull does; aima status\n" +
			"shows the applied revision and the last error. An unreachable remote is retried.\n\n" +
			"Anyone who can push to the followed branch is not trusted by default: a revision whose files\n" +
			"break .local/policy.yaml (host mounts, ${env:} names, images) or whose aima.yaml changes api,\n" +
			"port_range or host_ip (unless pulled_settings: true) is refused, and so is rewritten history\n" +
			"(a force-push that drops the revision applied before) unless --allow-rewrite.\n" +
			"--verify-signatures also requires the branch's tip commit to be signed by an OpenPGP key in\n" +
			".aima/.local/trusted-keys/ (*.asc, *.gpg, *.pub); without a key there, start fails.\n\n" +
			"--runtime kubernetes converges a cluster instead of Docker: each container is a Deployment\n" +
			"and a ClusterIP Service in --namespace, applied with server-side apply (README: Kubernetes).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			debug.SetGCPercent(100) // long-running: the default keeps RSS low
			st, err := g.store()
			if err != nil {
				return err
			}
			tok, err := startToken(cmd, o)
			if err != nil {
				return err
			}
			o.token = tok
			if o.host != "" { // remembered in .local/settings.yaml: this machine is that host
				if err := st.SetLocalHost(o.host); err != nil {
					return flagError(cmd, err)
				}
			}
			if err := startRuntime(cmd, st, o); err != nil {
				return flagError(cmd, err)
			}
			level := slog.LevelInfo
			if o.verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			return daemon.Run(cmd.Context(), daemon.Options{Dir: st.Dir, Addr: o.addr, Token: o.token, Version: Version, Log: log,
				Follow: o.follow, FollowInterval: o.interval, FollowOptions: o.trust})
		},
	}
	cmd.Flags().StringVar(&o.addr, "addr", "", "API listen address (default: api in aima.yaml, 127.0.0.1:9090)")
	cmd.Flags().StringVar(&o.tokenFile, "token-file", "", "file holding more accepted tokens (a secret, or NAME=SECRET,NAME2=SECRET2: writes commit as NAME); also $AIMA_TOKEN")
	cmd.Flags().StringVar(&o.token, "token", "", "like --token-file, inline (visible to every local user in ps: prefer $AIMA_TOKEN or --token-file)")
	cmd.Flags().StringVar(&o.host, "host", "", "which host of a fleet this machine is (hosts/NAME.yaml): it runs what is placed on it; kept in .aima/.local/settings.yaml")
	cmd.Flags().StringVar(&o.follow, "follow", "", "follow a remote branch, as REMOTE/BRANCH (e.g. origin/main)")
	_ = cmd.Flags().MarkHidden("token")
	durationVar(cmd.Flags(), &o.interval, "interval", daemon.DefaultFollowInterval, "with --follow: how often to fetch")
	cmd.Flags().BoolVar(&o.trust.VerifySignatures, "verify-signatures", false, "with --follow: apply only revisions whose tip commit is signed by an OpenPGP key in .aima/.local/trusted-keys/ (*.asc, *.gpg, *.pub)")
	cmd.Flags().BoolVar(&o.trust.AllowRewrite, "allow-rewrite", false, "with --follow: accept a force-pushed branch whose history no longer contains the revision applied before (refused by default)")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "log every sync operation and pull progress")
	cmd.Flags().StringVar(&o.runtime, "runtime", "", "container runtime: docker (default) or kubernetes (a Deployment and a Service per container); kept in .aima/.local/settings.yaml")
	cmd.Flags().StringVar(&o.kubeconfig, "kubeconfig", "", "with --runtime kubernetes: the kubeconfig file (default $KUBECONFIG, ~/.kube/config, or the cluster aima runs in)")
	cmd.Flags().StringVar(&o.namespace, "namespace", "", "with --runtime kubernetes: the namespace of aima's objects (default: the kubeconfig context's, else default)")
	return cmd
}

// startRuntime remembers --runtime, --kubeconfig and --namespace in the
// local settings, where every later command (aima diff, sync, status)
// finds them; without --runtime the settings stay as they are.
func startRuntime(cmd *cobra.Command, st *state.Store, o *startOptions) error {
	if !cmd.Flags().Changed("runtime") {
		if o.kubeconfig != "" || o.namespace != "" {
			return fmt.Errorf("--kubeconfig and --namespace go with --runtime kubernetes")
		}
		return nil
	}
	kc := o.kubeconfig
	if kc != "" {
		abs, err := filepath.Abs(kc)
		if err != nil {
			return fmt.Errorf("--kubeconfig: %w", err)
		}
		kc = abs
	}
	return st.SetLocalRuntime(o.runtime, kc, o.namespace)
}

// startToken is the extra tokens of `aima start`: --token, --token-file or
// $AIMA_TOKEN (in that order). One that is given but empty is an error, not
// "no token".
func startToken(cmd *cobra.Command, o *startOptions) (string, error) {
	switch {
	case cmd.Flags().Changed("token"):
		if strings.TrimSpace(o.token) == "" {
			return "", fmt.Errorf("--token: empty; give a secret (or drop the flag: the agent's own token is in .aima/.local/token)")
		}
		return o.token, nil
	case o.tokenFile != "":
		tok, err := api.ReadTokenFile(o.tokenFile) // refuses a file with no token
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		return tok, nil
	}
	if v, ok := os.LookupEnv("AIMA_TOKEN"); ok {
		if strings.TrimSpace(v) == "" {
			return "", fmt.Errorf("AIMA_TOKEN is set but empty; give a secret or unset it (the agent's own token is in .aima/.local/token)")
		}
		return v, nil
	}
	return "", nil
}

package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/daemon"
	"github.com/aima-dev/aima/agent/mcp"
	"github.com/aima-dev/aima/agent/watch"
	"github.com/aima-dev/aima/state/repo"
)

func newMCPCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "mcp",
		Short: "Serve every operation to an AI client over MCP (stdio): claude mcp add aima -- aima mcp",
		Long: "mcp is a Model Context Protocol server on stdin/stdout for AI clients (Claude Code,\n" +
			"Claude Desktop, Cursor, ...): one tool per operation (model_list, service_start, ...),\n" +
			"the state files, JSON Schemas and git log as resources (aima://services/NAME, ...), and\n" +
			"the enabled skills as prompts. It runs the operations in this process, as the command\n" +
			"line does (Docker for the container operations; the state directory's lock for writes).\n" +
			"Each write is one commit by \"mcp\" (or --author / $AIMA_AUTHOR) with an\n" +
			"\"MCP-Client: <client name>\" trailer. It exits when the client closes stdin.\n" +
			"The agent serves the same over HTTP at /mcp (with its token).",
		Example: "  claude mcp add aima -- aima mcp\n  aima mcp --dir ~/.aima",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMCP(cmd.Context(), g)
		},
	}
}

// runMCP serves MCP on stdin/stdout until the client goes.
func runMCP(ctx context.Context, g *globals) error {
	st, err := g.store()
	if err != nil {
		return err
	}
	author := repo.Signature{Name: "mcp", Email: "aima@localhost"}
	if g.author != "" || os.Getenv("AIMA_AUTHOR") != "" {
		author = st.Author
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// Docker is asked only by the container operations: without it the
	// file operations still work, and those fail with a clear error.
	var s *agent.Syncer
	if syncer, rt, err := agent.NewSyncer(st, nil); err == nil {
		s = syncer
		defer rt.Close()
	} else {
		log.Warn("no container runtime: the container operations will fail", "error", dockerError(err))
	}
	srv := mcp.New(mcp.Options{Env: daemon.UnitEnv(st, s, nil), Version: Version, Author: author, Log: log})
	// Files changed by anyone else (the CLI, an editor, a git pull) change
	// the resource and prompt lists: the client is told.
	if w, err := watch.New(st.Dir, watch.Options{OnChange: func([]string) { srv.Changed() }}); err == nil {
		defer w.Close()
		go func() { _ = w.Run(ctx) }()
		go srv.Follow(ctx)
	} else {
		log.Warn("not watching the state directory: the resource list will not follow changes made elsewhere", "error", err)
	}
	if err := srv.Run(ctx, &mcp.Stdio{In: os.Stdin, Out: os.Stdout}); err != nil && ctx.Err() == nil {
		return fmt.Errorf("mcp: %w", err)
	}
	return nil
}

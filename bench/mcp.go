package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/aima-dev/aima/agent/daemon"
	"github.com/aima-dev/aima/agent/unit"
)

// ---------------------------------------------------------------------------
// 7. MCP: a warm read tool call (model_list on 20 models) from the SDK's
// client, over stdio to `aima mcp` and over Streamable HTTP to the agent's
// /mcp, next to the same operation called in process (Registry.Call), the
// floor both doors add their cost to, in the same run.

const mcpModels = 20

func (e *env) benchMCP() error {
	dir, _, err := e.newState("mcp")
	if err != nil {
		return err
	}
	for i := 1; i < mcpModels; i++ {
		if err := writeModel(dir, fmt.Sprintf("m%02d", i)); err != nil {
			return err
		}
	}
	if err := gitCommit(dir, "bench: models"); err != nil {
		return err
	}
	n := samples(300)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// In process: the operation alone.
	st, err := daemon.OpenStore(dir)
	if err != nil {
		return err
	}
	env := daemon.UnitEnv(st, nil, nil)
	inProc, err := timeCalls(n, func() error {
		out, err := unit.Default.Call(ctx, env, "model.list", nil)
		if err == nil && out["total"] != mcpModels {
			err = fmt.Errorf("model.list answered %v models, want %d", out["total"], mcpModels)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("in process: %w", err)
	}

	// stdio: the binary as an MCP client launches it.
	client := sdk.NewClient(&sdk.Implementation{Name: "aima-bench", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &sdk.CommandTransport{Command: exec.Command(e.aima, "--dir", dir, "mcp")}, nil)
	if err != nil {
		return fmt.Errorf("aima mcp: %w", err)
	}
	stdio, err := timeTool(ctx, cs, n)
	cs.Close()
	if err != nil {
		return fmt.Errorf("stdio: %w", err)
	}

	// HTTP: the agent's /mcp with its token.
	a, err := e.startAgent(dir, "agent-mcp")
	if err != nil {
		return err
	}
	defer e.stopAgent(a)
	if _, _, err := a.waitReady(60 * time.Second); err != nil {
		return err
	}
	cs, err = client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: "http://" + a.addr + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{http.DefaultTransport}}, DisableStandaloneSSE: true}, nil)
	if err != nil {
		return fmt.Errorf("/mcp: %w (%s)", err, a.logTail())
	}
	overHTTP, err := timeTool(ctx, cs, n)
	cs.Close()
	if err != nil {
		return fmt.Errorf("/mcp: %w", err)
	}

	base := e.series("mcp: model.list in process, Registry.Call (ms)", inProc)
	so := e.series("mcp: model_list over stdio (ms)", stdio)
	ht := e.series("mcp: model_list over Streamable HTTP (ms)", overHTTP)
	e.row(Row{
		What:       fmt.Sprintf("MCP tool call `model_list` (read, %d models), warm, p50: stdio / HTTP", mcpModels),
		Aima:       fmt.Sprintf("%s / %s (p90 %s / %s)", fmtFine(so.Median), fmtFine(ht.Median), fmtFine(so.P90), fmtFine(ht.P90)),
		Comparison: fmt.Sprintf("the operation in process (Registry.Call): %s", fmtFine(base.Median)),
		Target:     "≤ 2 ms / ≤ 3 ms p50",
		Pass:       ptr(so.Median <= 2 && ht.Median <= 3),
		Note:       fmt.Sprintf("the doors add %+.2f ms (stdio) and %+.2f ms (HTTP) to the operation; %d calls each", so.Median-base.Median, ht.Median-base.Median, n),
	})
	return nil
}

// timeTool warms the session up, then times n calls of model_list.
func timeTool(ctx context.Context, cs *sdk.ClientSession, n int) ([]float64, error) {
	return timeCalls(n, func() error {
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "model_list"})
		if err == nil && res.IsError {
			err = fmt.Errorf("model_list: %v", res.Content)
		}
		return err
	})
}

// timeCalls runs call n/10 times to warm up, then n times, timing each.
func timeCalls(n int, call func() error) ([]float64, error) {
	for range max(n/10, 5) {
		if err := call(); err != nil {
			return nil, err
		}
	}
	out := make([]float64, 0, n)
	for range n {
		t0 := time.Now()
		if err := call(); err != nil {
			return nil, err
		}
		out = append(out, ms(time.Since(t0)))
	}
	return slices.Clip(out), nil
}

// fmtFine shows sub-millisecond figures with two decimals.
func fmtFine(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmtMs(v)
}

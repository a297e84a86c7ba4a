package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent/api"
	"github.com/aima-dev/aima/agent/daemon"
)

type uiOptions struct {
	open bool
}

// newUICmd is `aima ui`: a sign-in link to the web page of the agent
// serving the state directory.
func newUICmd(g *globals) *cobra.Command {
	o := &uiOptions{}
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Print a sign-in link to the agent's web page (--open opens it)",
		Long: "ui asks the running agent (aima start) for a one-time sign-in code and prints\n" +
			"the link to its web page that carries it. The link works once, within " + api.CodeTTL.String() + ";\n" +
			"it becomes a session cookie of that browser. Run aima ui again for another browser.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, g) },
	}
	cmd.Flags().BoolVar(&o.open, "open", false, "open the link in the default browser")
	return cmd
}

func (o *uiOptions) run(cmd *cobra.Command, g *globals) error {
	st, err := g.store()
	if err != nil {
		return err
	}
	resp, info, err := agentRequest(cmd.Context(), st.Dir, http.MethodPost, api.CodePath, strings.NewReader("{}"))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var doc struct {
		Path string `json:"path"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&doc) != nil || doc.Path == "" {
		return fmt.Errorf("the agent at %s gave no sign-in code (%s): is it this directory's agent, with a web page (aima start of this version)?", info.Addr, resp.Status)
	}
	link := "http://" + browsable(info.Addr) + doc.Path
	fmt.Fprintln(cmd.OutOrStdout(), link)
	fmt.Fprintf(cmd.ErrOrStderr(), "open it within %s; it works once\n", api.CodeTTL)
	if o.open {
		return openBrowser(link)
	}
	return nil
}

// browsable is the address a browser on this machine opens for an agent
// listening on addr: loopback for an agent on every address (0.0.0.0, ::).
func browsable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}

// openBrowser opens url with the desktop's opener.
func openBrowser(url string) error {
	name, args := "xdg-open", []string{url}
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler", url}
	}
	if err := exec.Command(name, args...).Start(); err != nil {
		return fmt.Errorf("open a browser (%s): %w; open the link above by hand", name, err)
	}
	return nil
}

// agentRequest sends a request to the agent serving dir (its
// .local/agent.json) with the owner's token. It is an error when no agent
// runs for dir.
func agentRequest(ctx context.Context, dir, method, path string, body io.Reader) (*http.Response, daemon.AgentInfo, error) {
	info, ok := daemon.ReadAgentInfo(dir)
	if !ok {
		return nil, info, fmt.Errorf("no agent runs for %s: start one with aima start", dir)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+info.Addr+path, body)
	if err != nil {
		return nil, info, err
	}
	if tok := api.ClientToken(dir); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, info, fmt.Errorf("the agent of %s (%s) does not answer: %w", dir, info.Addr, err)
	}
	return resp, info, nil
}

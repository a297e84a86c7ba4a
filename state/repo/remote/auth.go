package remote

import (
	"fmt"
	"os"
	"os/exec"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// Auth chooses the credentials for a remote URL from the environment; they
// are never logged or written anywhere:
//
//   - http(s): AIMA_GIT_TOKEN (sent as the basic-auth password, with
//     AIMA_GIT_USERNAME or "git" as the user), or AIMA_GIT_USERNAME +
//     AIMA_GIT_PASSWORD; else credentials in the URL, else none.
//   - ssh: the key file AIMA_GIT_SSH_KEY (passphrase AIMA_GIT_SSH_PASSPHRASE),
//     else the SSH agent (SSH_AUTH_SOCK). Host keys are checked against
//     ~/.ssh/known_hosts.
//
// A URL that is not a git URL is an Error of kind Invalid; ssh with neither
// a key file nor an agent is one of kind Unavailable.
func Auth(rawURL string) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return nil, newError(fmt.Sprintf("remote URL %q", Redact(rawURL)), Invalid, "%v", err)
	}
	switch ep.Protocol {
	case "http", "https":
		user := os.Getenv("AIMA_GIT_USERNAME")
		if tok := os.Getenv("AIMA_GIT_TOKEN"); tok != "" {
			if user == "" {
				user = "git"
			}
			return &githttp.BasicAuth{Username: user, Password: tok}, nil
		}
		if pw := os.Getenv("AIMA_GIT_PASSWORD"); user != "" || pw != "" {
			return &githttp.BasicAuth{Username: user, Password: pw}, nil
		}
		return nil, nil
	case "ssh":
		user := ep.User
		if user == "" {
			user = "git"
		}
		if key := os.Getenv("AIMA_GIT_SSH_KEY"); key != "" {
			a, err := gitssh.NewPublicKeysFromFile(user, key, os.Getenv("AIMA_GIT_SSH_PASSPHRASE"))
			if err != nil {
				return nil, fmt.Errorf("ssh key AIMA_GIT_SSH_KEY: %w", err)
			}
			return a, nil
		}
		a, err := gitssh.NewSSHAgentAuth(user)
		if err != nil {
			return nil, newError("ssh "+ep.Host, Unavailable,
				"no SSH agent to authenticate with (start one and ssh-add a key, or set AIMA_GIT_SSH_KEY): %v", err)
		}
		return a, nil
	}
	return nil, nil
}

var transportsOnce sync.Once

// installTransports makes file:// work without the git binary: go-git runs
// git-upload-pack/git-receive-pack for it when git is installed (which
// serves any repository layout) and otherwise needs its in-process server.
func installTransports() {
	transportsOnce.Do(func() {
		if _, err := exec.LookPath("git"); err != nil {
			client.InstallProtocol("file", server.DefaultServer)
		}
	})
}

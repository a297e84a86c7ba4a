package agent

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/plan"
)

// takenPorts probes the host ports the desired running objects publish
// and no observed container does (Docker's own proxies hold those), and
// returns the ones something else holds, with who: plan.Options.HostPorts.
// Where /proc tells, the probe only reads it: binding the port to see
// would take it, for that instant, from a container the agent starts.
func takenPorts(desired []plan.Desired, observed []container.Container) map[int]string {
	published := map[int]bool{}
	for _, c := range observed {
		for _, p := range c.Ports {
			published[p.HostPort] = true
		}
	}
	listening, procOK := listeners()
	var out map[int]string
	for _, d := range desired {
		if !d.Running || d.Blocked != "" {
			continue
		}
		for _, p := range d.Spec.Ports {
			port := p.HostPort
			if port == 0 || published[port] {
				continue
			}
			if _, done := out[port]; done {
				continue
			}
			who := ""
			switch {
			case !procOK:
				who = portHolder(port)
			case len(listening[port]) > 0:
				if who = inodeHolder(listening[port]); who == "" {
					who = "another process"
				}
			}
			if who != "" {
				if out == nil {
					out = map[int]string{}
				}
				out[port] = who
			}
		}
	}
	return out
}

// portHolder says whether a TCP port is held, by binding it: the fallback
// where /proc cannot name the holder (see listeners).
func portHolder(port int) string {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err == nil {
		l.Close()
		return ""
	}
	return "another process"
}

// listeners reads the listening TCP sockets from /proc/net/tcp{,6}: the
// socket inodes by port. ok is false when /proc cannot tell (not Linux).
func listeners() (byPort map[int]map[string]bool, ok bool) {
	byPort = map[int]map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		ok = true
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" { // 0A = LISTEN
				continue
			}
			_, hexPort, found := strings.Cut(fields[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); found && err == nil {
				if byPort[int(p)] == nil {
					byPort[int(p)] = map[string]bool{}
				}
				byPort[int(p)][fields[9]] = true
			}
		}
		fh.Close()
	}
	return byPort, ok
}

// inodeHolder names the process that owns one of the socket inodes:
// "process 123 (nginx)", or "" when none is found (another user's, say).
func inodeHolder(inodes map[string]bool) string {
	if len(inodes) == 0 {
		return ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		target, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(target, "socket:[") {
			continue
		}
		if inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] {
			pid := strings.Split(fd, "/")[2]
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			return fmt.Sprintf("process %s (%s)", pid, strings.TrimSpace(string(comm)))
		}
	}
	return ""
}

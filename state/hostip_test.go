package state_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// TestHostIPValidation: host_ip in a service, an app or aima.yaml is an IP
// address, IPv4 or IPv6; anything else is refused with an error naming the
// field and its position, however the file arrives.
func TestHostIPValidation(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "0.0.0.0", "::", "::1", "192.0.2.7", "fd00::2", "FD00:0::2"} {
		for _, f := range []struct{ file, content string }{
			{"services/s.yaml", "model: m\nengine: stub\nhost_ip: \"" + ip + "\"\n"},
			{"apps/a.yaml", "image: x\nports: [\"8080:80\"]\nhost_ip: \"" + ip + "\"\n"},
		} {
			k, _, _ := state.KindOfPath(f.file)
			if _, err := k.Decode(f.file, []byte(f.content)); err != nil {
				t.Errorf("%s with host_ip %q: %v", f.file, ip, err)
			}
		}
	}
	for _, ip := range []string{"localhost", "1.2.3", "256.0.0.1", "01.2.3.4", "fe80::1%eth0", "127.0.0.1:8000", " 127.0.0.1", "*"} {
		for _, f := range []struct{ file, content string }{
			{"services/s.yaml", "model: m\nengine: stub\nhost_ip: \"" + ip + "\"\n"},
			{"apps/a.yaml", "image: x\nports: [\"8080:80\"]\nhost_ip: \"" + ip + "\"\n"},
		} {
			k, _, _ := state.KindOfPath(f.file)
			_, err := k.Decode(f.file, []byte(f.content))
			if !errors.Is(err, state.ErrInvalid) {
				t.Errorf("%s with host_ip %q: got %v, want an ErrInvalid error", f.file, ip, err)
				continue
			}
			for _, w := range []string{f.file + ":3:10", "/host_ip", "is not an IP address"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s with host_ip %q: error %q lacks %q", f.file, ip, err, w)
				}
			}
		}
	}
	// Through the store (CLI and API writes): refused, nothing written.
	st := testenv.NewStore(t)
	mustCreate(t, st, state.KindModel, &state.Model{Name: "m"})
	_, err := st.Create(state.KindService, &state.Service{Name: "s", Model: "m", Engine: "stub", HostIP: "localhost"})
	if !errors.Is(err, state.ErrInvalid) || !strings.Contains(err.Error(), "host_ip") || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("create with host_ip localhost: %v", err)
	}
	if st.Exists(state.KindService, "s") {
		t.Errorf("a refused service was written")
	}
	// aima.yaml: a bad default is reported with its position.
	set, err := st.Settings()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(st.Dir, "aima.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(st.Dir, "aima.yaml"), append(b, "host_ip: 0.0.0\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Settings(); !errors.Is(err, state.ErrInvalid) || !strings.Contains(err.Error(), "aima.yaml:") || !strings.Contains(err.Error(), "/host_ip") {
		t.Errorf("aima.yaml with host_ip 0.0.0: %v", err)
	}
	if err := os.WriteFile(filepath.Join(st.Dir, "aima.yaml"), append(b, "host_ip: 0.0.0.0\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := st.Settings()
	if err != nil || got.HostIP != "0.0.0.0" || got.Instance != set.Instance {
		t.Errorf("aima.yaml with host_ip 0.0.0.0: %+v, %v", got, err)
	}
}

// TestPublishIP: a file's own host_ip wins, then aima.yaml's, then
// 127.0.0.1; addresses come out in canonical form.
func TestPublishIP(t *testing.T) {
	for _, c := range []struct{ own, dir, want string }{
		{"", "", "127.0.0.1"},
		{"", "0.0.0.0", "0.0.0.0"},
		{"192.0.2.7", "0.0.0.0", "192.0.2.7"},
		{"127.0.0.1", "0.0.0.0", "127.0.0.1"},
		{"FD00:0::2", "", "fd00::2"},
		{"", "::", "::"},
	} {
		if got := (state.Settings{HostIP: c.dir}).PublishIP(c.own); got != c.want {
			t.Errorf("PublishIP(own %q, aima.yaml %q) = %q, want %q", c.own, c.dir, got, c.want)
		}
	}
}

// TestPortAllocationSkipsLoopbackHolder: the port-allocation probe still
// sees a port held on 127.0.0.1 only (as a container published the default
// way holds it), so a new service is not given a port a service of another
// state directory publishes on this machine.
func TestPortAllocationSkipsLoopbackHolder(t *testing.T) {
	var held net.Listener
	var lo int
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		if next, err := net.Listen("tcp", ":"+strconv.Itoa(p+1)); err == nil && p < 65535 {
			next.Close()
			held, lo = ln, p
			break
		}
		ln.Close()
	}
	if held == nil {
		t.Fatal("no two consecutive free ports")
	}
	defer held.Close()
	st := testenv.NewStore(t)
	b, err := os.ReadFile(filepath.Join(st.Dir, "aima.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if !strings.HasPrefix(l, "port_range:") {
			keep = append(keep, l)
		}
	}
	keep = append(keep, fmt.Sprintf("port_range: %d-%d\n", lo, lo+1))
	if err := os.WriteFile(filepath.Join(st.Dir, "aima.yaml"), []byte(strings.Join(keep, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, st, state.KindModel, &state.Model{Name: "m"})
	svc := mustCreate(t, st, state.KindService, &state.Service{Name: "s", Model: "m", Engine: "stub"}).Object.(*state.Service)
	if svc.Port != lo+1 {
		t.Errorf("allocated port %d, want %d (port %d is held on 127.0.0.1)", svc.Port, lo+1, lo)
	}
}

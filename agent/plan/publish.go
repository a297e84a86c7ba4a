package plan

import (
	"fmt"
	"net/netip"

	"github.com/aima-dev/aima/agent/container"
)

// Misplaced compares the host bindings a container was observed with
// against the ports spec publishes, and describes the first observed
// binding that spec does not ask for, for example "port 8000 published on
// every address, want 127.0.0.1". It returns "" when every observed binding
// is wanted, and when nothing was observed: runtimes report bindings only
// for running containers, and a stopped container publishes nothing.
//
// This is the observed side of the spec hash. The hash says what a
// container was created from; Misplaced says where its ports are actually
// published, so a container exposed on an address the files do not ask
// for (created by hand, by an older aima, or by a daemon that ignored the
// address) is recreated with that as its cause, never silently kept.
//
// Addresses compare as IP addresses; the unspecified ones ("", 0.0.0.0 and
// ::, which Docker reports for a binding on every address) are one
// "every address".
func Misplaced(spec container.Spec, observed []container.Port) string {
	for _, o := range observed {
		if o.HostPort == 0 || publishes(spec, o) {
			continue
		}
		var other *container.Port // the binding spec wants for this container port
		for i, d := range spec.Ports {
			if d.ContainerPort != o.ContainerPort {
				continue
			}
			if d.HostPort == o.HostPort {
				return fmt.Sprintf("port %d published on %s, want %s", o.HostPort, where(o.HostIP), where(d.HostIP))
			}
			if other == nil {
				other = &spec.Ports[i]
			}
		}
		if other != nil {
			return fmt.Sprintf("container port %d published on %s port %d, want %s port %d", o.ContainerPort, where(o.HostIP), o.HostPort, where(other.HostIP), other.HostPort)
		}
		return fmt.Sprintf("port %d published on %s, not asked for", o.HostPort, where(o.HostIP))
	}
	return ""
}

// publishes reports whether spec has a binding equal to o.
func publishes(spec container.Spec, o container.Port) bool {
	for _, d := range spec.Ports {
		if d.ContainerPort == o.ContainerPort && d.HostPort == o.HostPort && sameHostIP(d.HostIP, o.HostIP) {
			return true
		}
	}
	return false
}

// sameHostIP reports whether two host addresses are the same binding:
// equal as IP addresses, or both unspecified (every address).
func sameHostIP(a, b string) bool {
	x, y := hostAddr(a), hostAddr(b)
	if !x.IsValid() || !y.IsValid() {
		return a == b
	}
	if x.IsUnspecified() && y.IsUnspecified() {
		return true
	}
	return x.Unmap() == y.Unmap()
}

// hostAddr parses a host address, "" (Docker's "every address") as 0.0.0.0.
func hostAddr(s string) netip.Addr {
	if s == "" {
		return netip.IPv4Unspecified()
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a
}

// where names a host address for a human.
func where(ip string) string {
	if a := hostAddr(ip); a.IsValid() && a.IsUnspecified() {
		return "every address"
	}
	return ip
}

package state

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// DefaultHostIP is the address ports are published on when neither the
// service or app file nor aima.yaml sets host_ip: this machine only, as
// Ollama does. Serving the LAN (0.0.0.0) is a choice written in a file.
const DefaultHostIP = "127.0.0.1"

// PublishIP returns the address the ports of an object whose file says own
// (its host_ip, "" when absent) are published on: own, else aima.yaml's
// host_ip, else DefaultHostIP. The result is in canonical form (fe80::1,
// not FE80:0::1), so equal addresses give equal container specs.
func (set Settings) PublishIP(own string) string {
	for _, s := range []string{own, set.HostIP} {
		if a, err := netip.ParseAddr(s); err == nil {
			return a.String()
		}
	}
	return DefaultHostIP
}

// checkHostIP reports a host_ip that is not an IP address; "" (unset) is
// fine. Zones (fe80::1%eth0) are refused: Docker publishes on addresses,
// not on an address of one link.
func checkHostIP(ip string) error {
	if ip == "" {
		return nil
	}
	if a, err := netip.ParseAddr(ip); err == nil && a.Zone() == "" {
		return nil
	}
	hint := "use 127.0.0.1 for this machine only, 0.0.0.0 for every address (the LAN), or the address of one of the machine's interfaces"
	if strings.EqualFold(ip, "localhost") {
		hint = "use 127.0.0.1 (a name is not resolved here)"
	}
	return fmt.Errorf("%q is not an IP address (IPv4 or IPv6): %s", ip, hint)
}

// hostIPProblems checks the host_ip of a service, app or aima.yaml.
func hostIPProblems(o any) []Problem {
	var ip string
	switch o := o.(type) {
	case *Service:
		ip = o.HostIP
	case *App:
		ip = o.HostIP
	case *Settings:
		ip = o.HostIP
	}
	if err := checkHostIP(ip); err != nil {
		return []Problem{{Field: "/host_ip", Message: err.Error()}}
	}
	return nil
}

// SettingsInEffect returns aima.yaml as Settings does, except that when the
// file in the work tree is invalid (a hand edit not fixed yet) the committed
// version stays in effect, as for every other file: a typo elsewhere in
// aima.yaml must not move every container to another address. The error is
// returned only when no valid version can be read at all. (The committed
// version comes without Settings' filled-in defaults; the sync loop reads
// host_ip from it, through PublishIP.)
func (s *Store) SettingsInEffect() (Settings, error) {
	set, err := s.Settings()
	if err == nil || !errors.Is(err, ErrInvalid) {
		return set, err
	}
	r, rerr := s.Repo()
	if rerr != nil {
		return set, err
	}
	b, rerr := r.Read("", "aima.yaml")
	if rerr != nil {
		return set, err
	}
	committed, rerr := decodeSettings(b)
	if rerr != nil {
		return set, err
	}
	if id := s.localInstance(); id != "" {
		committed.Instance = id
	}
	return committed, nil
}

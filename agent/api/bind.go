package api

import (
	"fmt"
	"net"
	"strings"
)

// CheckBind refuses to serve the API on a non-loopback address without a
// token: anyone who can reach the port could change the state and run
// containers. Loopback is 127.0.0.0/8, ::1 and "localhost"; an empty host
// (":9090") listens on every interface and is not loopback.
func CheckBind(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("api address %q: want HOST:PORT, e.g. 127.0.0.1:9090: %w", addr, err)
	}
	if strings.TrimSpace(token) != "" && len(ParseTokens(token)) == 0 {
		return fmt.Errorf("token: want a secret, or NAME=SECRET pairs separated by commas (e.g. ci=s3cret,ada=0ther)")
	}
	if token != "" || loopback(host) {
		return nil
	}
	where := host
	if host == "" {
		where = "every interface"
	}
	return fmt.Errorf("api address %q: refusing to serve on %s without a token: the API can change state and run containers, so a non-loopback address needs a bearer token (set one, or listen on 127.0.0.1)", addr, where)
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	host, _, _ = strings.Cut(host, "%") // zone of an IPv6 address
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// DoorFor is the door of an agent listening on addr: loopback names always;
// any IP literal too when it listens off loopback (a DNS-rebinding page
// cannot make a browser send an IP literal as its Host); hosts and origins
// from the local settings.
func DoorFor(addr string, hosts, origins []string) Door {
	host, _, _ := net.SplitHostPort(addr)
	return Door{Hosts: hosts, Origins: origins, AnyIP: !loopback(host)}
}

package cli

import "testing"

// TestBrowsable: the link of an agent listening on every address opens
// on loopback; any other address is kept.
func TestBrowsable(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:9090":    "127.0.0.1:9090",
		"0.0.0.0:9090":      "127.0.0.1:9090",
		"[::]:9090":         "[::1]:9090",
		"192.168.1.20:9090": "192.168.1.20:9090",
		"localhost:9090":    "localhost:9090",
	} {
		if got := browsable(addr); got != want {
			t.Errorf("browsable(%q) = %q, want %q", addr, got, want)
		}
	}
}

package state

import (
	"testing"
	"time"
)

// TestParseDuration: Go durations and bare seconds (`--timeout 60`, as the
// spec writes it); anything else is refused saying what is wanted.
func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"60": 60 * time.Second, "0": 0, "0.5": 500 * time.Millisecond, " 90 ": 90 * time.Second,
		"90s": 90 * time.Second, "2m": 2 * time.Minute, "1h30m": 90 * time.Minute, "250ms": 250 * time.Millisecond,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abc", "-5s", "-1", "1e3", "NaN", "Inf", "0x10", "60 s", "99999999999999999999"} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		}
	}
}

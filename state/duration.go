package state

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// seconds is a bare number of seconds: "60", "0.5".
var seconds = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// ParseDuration reads a duration as aima takes it wherever one is given (a
// flag, a request, a pipeline step parameter): a Go duration ("90s", "2m",
// "1h30m") or bare seconds ("60", "0.5"), as the spec writes `--timeout 60`.
// Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	const want = "want seconds such as 60, or a duration such as 90s or 2m"
	s = strings.TrimSpace(s)
	if seconds.MatchString(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f > float64(1<<63-1)/float64(time.Second) {
			return 0, fmt.Errorf("%q is too long (%s)", s, want)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case s == "":
		return 0, fmt.Errorf("empty duration (%s)", want)
	case err != nil:
		return 0, fmt.Errorf("%q is not a duration (%s)", s, want)
	case d < 0:
		return 0, fmt.Errorf("%q is negative (%s)", s, want)
	}
	return d, nil
}

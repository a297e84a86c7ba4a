package cli

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/aima-dev/aima/state"
)

// durationValue is the pflag.Value of every duration flag: a Go duration
// ("90s", "2m") or bare seconds ("60"), as the spec writes `--timeout 60`
// (pflag's own duration flag refuses "60"). A bad value is refused by pflag
// naming the flag: invalid argument "x" for "--timeout" flag: ...
type durationValue time.Duration

// durationVar defines a duration flag that also takes bare seconds.
func durationVar(fs *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var((*durationValue)(p), name, usage+" (seconds, or a duration such as 90s or 2m)")
}

func (d *durationValue) Set(s string) error {
	v, err := state.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) String() string { return time.Duration(*d).String() }

// Type is "duration", as pflag's own, so help and completion show the same.
func (d *durationValue) Type() string { return "duration" }

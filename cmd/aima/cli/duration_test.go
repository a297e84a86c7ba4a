package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestDurationFlags: every duration flag of every command (service
// start|stop --timeout, sync --timeout, start --interval, ...) takes bare
// seconds as the spec writes them (`--timeout 60`) and Go durations, and a
// bad value is refused naming the flag.
func TestDurationFlags(t *testing.T) {
	var found []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Value.Type() != "duration" {
				return
			}
			name := c.CommandPath() + " --" + f.Name
			found = append(found, name)
			for in, want := range map[string]time.Duration{"60": time.Minute, "90s": 90 * time.Second, "2m": 2 * time.Minute} {
				if err := f.Value.Set(in); err != nil {
					t.Errorf("%s %s: %v", name, in, err)
					continue
				}
				if got := f.Value.String(); got != want.String() {
					t.Errorf("%s %s = %s, want %s", name, in, got, want)
				}
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	for _, want := range []string{"aima service start --timeout", "aima service stop --timeout", "aima app start --timeout", "aima sync --timeout", "aima start --interval"} {
		if !strings.Contains(strings.Join(found, "\n"), want) {
			t.Errorf("no duration flag %s (found: %s)", want, strings.Join(found, ", "))
		}
	}

	root := newRootCmd()
	root.SetArgs([]string{"sync", "--timeout", "forever"})
	root.SetOut(new(strings.Builder))
	root.SetErr(new(strings.Builder))
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), `"--timeout"`) || !strings.Contains(err.Error(), "90s") {
		t.Errorf("sync --timeout forever: %v; want an error naming --timeout and saying what it takes", err)
	}
}

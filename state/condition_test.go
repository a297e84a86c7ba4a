package state_test

import (
	"strings"
	"testing"

	"github.com/aima-dev/aima/state"
)

func TestParseCondition(t *testing.T) {
	good := []string{
		"gpu_temp > 80",
		`service_down("qwen") or mem_used_pct > 90`,
		`not (cpu_pct < 50) and service_restarts("chat") >= 3`,
		"mem_used_pct >= 90% && load1 > 4",
		`service_failed('a-b.c')`,
	}
	for _, s := range good {
		if _, err := state.ParseCondition(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	bad := []struct{ in, want string }{
		{"gpu_tmp > 80", "column 1: unknown metric \"gpu_tmp\""},
		{"gpu_temp >", "column 11: the condition ends too early"},
		{"gpu_temp = 80", "column 10: \"=\" is not an operator"},
		{"gpu_temp", "must be true or false"},
		{`service_down(qwen)`, "column 14: service_down takes a service name in quotes"},
		{`nope("x")`, "column 1: unknown function \"nope\""},
		{"(gpu_temp > 80", "missing )"},
		{"gpu_temp > 80 extra", "column 15: unexpected \"extra\""},
		{`service_restarts("a")`, "must be true or false"},
		{"", "empty condition"},
	}
	for _, c := range bad {
		_, err := state.ParseCondition(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.in, err, c.want)
		}
	}
	e, _ := state.ParseCondition(`service_down("a") or service_failed("b")`)
	if got := strings.Join(e.Services(), ","); got != "a,b" {
		t.Errorf("services %q", got)
	}
}

func TestAlertValidation(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"condition: gpu_tmp > 80\n", `alerts/a.yaml:1:12: /condition: "gpu_tmp > 80": column 1: unknown metric`},
		{"condition: gpu_temp > 80\naction: webhook\n", "/webhook_url: action webhook needs webhook_url"},
		{"condition: gpu_temp > 80\naction: stop_service\n", "names none"},
	} {
		_, err := state.KindAlert.Decode("alerts/a.yaml", []byte(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.file, err, c.want)
		}
	}
}

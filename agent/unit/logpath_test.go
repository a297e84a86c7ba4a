package unit

import "testing"

func TestLogPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "",
		"services/x.yaml":  "services/x.yaml",
		"service/x":        "services/x.yaml",
		"skill/s":          "skills/s.md",
		"alerts/":          "alerts/",
		"alert":            "alerts/",
		"aima.yaml":        "aima.yaml",
		"services/x.y.z":   "services/x.y.z.yaml",
		"models/../a.yaml": "a.yaml",
	} {
		got, err := LogPath(in)
		if err != nil || got != want {
			t.Errorf("LogPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := LogPath("../outside"); err == nil {
		t.Errorf("LogPath(../outside) accepted")
	}
}

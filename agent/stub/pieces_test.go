package stub

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPieces(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"one", []string{"one"}},
		{"a b  c", []string{"a", " b", "  c"}},
		{" lead", []string{" lead"}},
		{"trail \n", []string{"trail \n"}},
		{"x\ny ", []string{"x", "\ny "}},
		{"   ", []string{"   "}},
	}
	for _, tt := range tests {
		got := pieces(tt.in)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("pieces(%q) (-want +got):\n%s", tt.in, diff)
		}
		if strings.Join(got, "") != tt.in {
			t.Errorf("pieces(%q) do not join back to the input", tt.in)
		}
	}
}

package docker

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadPull(t *testing.T) {
	stream := `{"status":"Pulling from library/x","id":"1"}
{"status":"Pulling fs layer","id":"a"}
{"status":"Downloading","progressDetail":{"current":1,"total":100},"id":"a"}
{"status":"Downloading","progressDetail":{"current":5,"total":100},"id":"a"}
{"status":"Downloading","progressDetail":{"current":55,"total":100},"id":"a"}
{"status":"Downloading","progressDetail":{"current":100,"total":100},"id":"a"}
{"status":"Pull complete","id":"a"}
{"status":"Digest: sha256:00"}
{"status":"Status: Downloaded newer image for x:1"}
`
	var got []string
	if err := readPull(strings.NewReader(stream), func(s string) { got = append(got, s) }); err != nil {
		t.Fatalf("readPull: %v", err)
	}
	want := []string{
		"1: Pulling from library/x",
		"a: Pulling fs layer",
		"a: Downloading 0%",
		"a: Downloading 50%",
		"a: Downloading 100%",
		"a: Pull complete",
		"Digest: sha256:00",
		"Status: Downloaded newer image for x:1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("progress lines (-want +got):\n%s", diff)
	}
}

func TestReadPullError(t *testing.T) {
	stream := `{"status":"Pulling fs layer","id":"a"}
{"errorDetail":{"message":"unauthorized: authentication required"},"error":"unauthorized: authentication required"}
`
	err := readPull(strings.NewReader(stream), nil)
	if err == nil || err.Error() != "unauthorized: authentication required" {
		t.Errorf("readPull error %v, want the stream's error", err)
	}
	if err := readPull(strings.NewReader(`{"status":`), nil); err == nil {
		t.Errorf("readPull of a truncated stream: no error")
	}
}

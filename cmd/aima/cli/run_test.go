package cli

import (
	"bytes"
	"testing"
)

// TestPullProgressLines: without a terminal a pull prints a line at each
// tenth of a file and at its end, a new file starting over; a size the
// server did not send prints the bytes.
func TestPullProgressLines(t *testing.T) {
	var b bytes.Buffer
	pr := newPullProgress(&b)
	const mb = 1 << 20
	for _, done := range []int64{0, 5 * mb, 10 * mb, 11 * mb, 95 * mb, 100 * mb} {
		pr.update("w.gguf", done, 100*mb)
	}
	pr.update("big.safetensors", 3<<30, 3<<30)
	pr.update("config.json", 2048, -1)
	pr.finish()
	want := "pull w.gguf: 0% (0B of 100MiB)\n" +
		"pull w.gguf: 10% (10MiB of 100MiB)\n" +
		"pull w.gguf: 90% (95MiB of 100MiB)\n" +
		"pull w.gguf: 100% (100MiB of 100MiB)\n" +
		"pull big.safetensors: 100% (3GiB of 3GiB)\n" +
		"pull config.json: 2KiB\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

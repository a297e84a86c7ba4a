package state_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aima-dev/aima/state"
)

// smallDisk is a tmpfs mounted for one test, and a file that fills it.
type smallDisk struct {
	t      *testing.T
	dir    string
	filler *os.File
}

const page = 4096

// mountSmallDisk mounts a tmpfs of size bytes on a temporary directory
// (unmounted when the test ends); it skips the test, saying why, when the
// test is not root or cannot mount.
func mountSmallDisk(t *testing.T, size int) *smallDisk {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test mounts a small tmpfs to fill it (run as root, or in a container with CAP_SYS_ADMIN)")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): the test needs a small disk to fill", err)
	}
	d := &smallDisk{t: t, dir: dir}
	t.Cleanup(func() {
		if d.filler != nil {
			d.filler.Close()
		}
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return d
}

// leave fills the disk, then frees exactly pages pages (0: the disk is full).
func (d *smallDisk) leave(pages int) {
	d.t.Helper()
	if d.filler == nil {
		f, err := os.OpenFile(filepath.Join(d.dir, "filler"), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			d.t.Fatal(err)
		}
		d.filler = f
	}
	buf := make([]byte, page)
	for i := range buf {
		buf[i] = 'f'
	}
	size, err := d.filler.Seek(0, io.SeekEnd)
	if err != nil {
		d.t.Fatal(err)
	}
	for {
		n, err := d.filler.WriteAt(buf, size)
		size += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			d.t.Fatal(err)
		}
	}
	size = size / page * page
	if size < int64(pages*page) {
		d.t.Fatalf("the filler holds %d bytes, cannot free %d pages", size, pages)
	}
	if err := d.filler.Truncate(size - int64(pages*page)); err != nil {
		d.t.Fatal(err)
	}
}

// free empties the filler.
func (d *smallDisk) free() {
	d.t.Helper()
	if err := d.filler.Truncate(0); err != nil {
		d.t.Fatal(err)
	}
}

// leftovers lists the temporary and backup files of writes left in dir.
func leftovers(dir string) []string {
	var out []string
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") {
			out = append(out, de.Name())
		}
	}
	return out
}

// TestFailedWriteOnFullDiskLeavesTheFile: on a full disk an update or a
// delete fails with a clear error, the file's bytes are exactly what they
// were, nothing is committed, no temporary or backup file is left, and the
// next start's repair (Record) commits nothing. Each is tried with 0, 1, 2,
// ... free pages, so the failure hits every step: the file write, the git
// objects, the ref. Once there is room, the same writes succeed.
func TestFailedWriteOnFullDiskLeavesTheFile(t *testing.T) {
	disk := mountSmallDisk(t, 2<<20)
	st, err := state.Open(filepath.Join(disk.dir, ".aima"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Init(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"upd", "del", "other"} {
		mustCreate(t, st, state.KindModel, &state.Model{Name: n, Source: "ollama", Repo: "original-" + n})
	}
	models := filepath.Join(st.Dir, "models")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(models, name+".yaml"))
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}
	head := func() string { return strings.TrimSpace(git(t, st.Dir, "rev-parse", "HEAD")) }

	failed := map[string]int{}
	for free := 0; free <= 24; free++ {
		for _, op := range []string{"update", "delete"} {
			name := map[string]string{"update": "upd", "delete": "del"}[op]
			before, h := read(name), head()
			disk.leave(free)
			if op == "update" {
				_, err = st.Update(state.KindModel, name, "", func(o state.Object) (state.Object, error) {
					o.(*state.Model).Repo = fmt.Sprintf("changed-with-%d-free-pages-%s", free, strings.Repeat("x", 2*page))
					return o, nil
				})
			} else {
				err = st.Delete(state.KindModel, name, "")
			}
			disk.free()
			if err == nil {
				// Room enough: the write is made and committed, as usual.
				if head() == h {
					t.Errorf("%s with %d free pages succeeded without a commit", op, free)
				}
				if op == "delete" {
					mustCreate(t, st, state.KindModel, &state.Model{Name: name, Source: "ollama", Repo: "again"})
				}
				continue
			}
			failed[op]++
			t.Logf("%s with %d free pages: %v", op, free, err)
			if !strings.Contains(err.Error(), "no space left on device") {
				t.Errorf("%s with %d free pages: %v, want an error saying the disk is full", op, free, err)
			}
			if got := read(name); got != before {
				t.Fatalf("%s with %d free pages failed (%v) but changed the file:\nwas %.200q\nnow %.200q", op, free, err, before, got)
			}
			if got := head(); got != h {
				t.Fatalf("%s with %d free pages failed (%v) but committed %s", op, free, err, git(t, st.Dir, "log", "--oneline", "-1"))
			}
			if l := leftovers(models); len(l) != 0 {
				t.Errorf("%s with %d free pages left %v", op, free, l)
			}
			// The next start repairs: nothing to commit, nothing invalid.
			rec, err := st.Record(nil)
			if err != nil || len(rec.Paths) != 0 || len(rec.Problems) != 0 {
				t.Fatalf("repair after a failed %s with %d free pages: %+v %v", op, free, rec, err)
			}
		}
	}
	if failed["update"] == 0 || failed["delete"] == 0 {
		t.Fatalf("no write failed (%v): the disk was never full enough", failed)
	}
	// With room, both work.
	if _, err := st.Update(state.KindModel, "upd", "", func(o state.Object) (state.Object, error) {
		o.(*state.Model).Repo = "finally"
		return o, nil
	}); err != nil {
		t.Errorf("update with room: %v", err)
	}
	if err := st.Delete(state.KindModel, "del", ""); err != nil {
		t.Errorf("delete with room: %v", err)
	}
	if b := read("other"); !strings.Contains(b, "original-other") {
		t.Errorf("an untouched file changed: %q", b)
	}
	if out := git(t, st.Dir, "status", "--porcelain"); strings.TrimSpace(out) != "" {
		t.Errorf("git status not clean:\n%s", out)
	}
	if out := git(t, st.Dir, "fsck", "--no-dangling", "--no-progress"); strings.TrimSpace(out) != "" {
		t.Errorf("git fsck: %s", out)
	}

	// A backup left by a crash (between the write and the commit) is
	// removed by the next start's repair, and is never an object.
	leftover := filepath.Join(models, ".upd.yaml.undo-0123456789ab")
	os.WriteFile(leftover, []byte("repo: old\n"), 0o644)
	if rec, err := st.Record(nil); err != nil || len(rec.Paths) != 0 || len(rec.Problems) != 0 {
		t.Errorf("repair with a leftover backup: %+v %v", rec, err)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the leftover backup is still there: %v", err)
	}
}

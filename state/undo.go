package state

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// writeUndo takes back the files a write changed when its commit fails, so
// that a write is either committed or undone: an unacknowledged write never
// reappears as a hand edit that the next start commits.
//
// The old version of a file is kept under a hard link in the same directory
// (".<name>.undo-XXXX") before the file is replaced or removed. A link
// needs no room for data, and putting the file back is a rename, which
// needs none either, so a failed write is undone exactly even on a full
// disk (rewriting the old content, as aima did before, needs room for it
// and failed just when the commit had failed for want of room). The names
// start with '.', which the loader and the watcher skip. A link left by a
// crash is removed by the next start's repair (removeTempFiles); the file
// is then whatever the crash left, which the repair commits when it is
// valid, as for any crash between a write and its commit.
type writeUndo struct {
	steps []undoStep
}

type undoStep struct {
	abs     string
	backup  string // the hard link to the old version; "" when there is none
	existed bool
	old     []byte // the old content, only where hard links are not possible
}

// undoSuffix marks the backups of writeUndo: ".<name>.undo-XXXX".
const undoSuffix = ".undo-"

// keep remembers what abs holds now, before it is replaced or removed.
func (u *writeUndo) keep(abs string) error {
	if _, err := os.Lstat(abs); errors.Is(err, fs.ErrNotExist) {
		u.steps = append(u.steps, undoStep{abs: abs})
		return nil
	} else if err != nil {
		return err
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	backup := filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+undoSuffix+hex.EncodeToString(rnd[:]))
	err := os.Link(abs, backup)
	switch {
	case err == nil:
		u.steps = append(u.steps, undoStep{abs: abs, backup: backup, existed: true})
		return nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("write %s: keep the old version: %w", abs, err)
	}
	// A file system without hard links: keep the old content, which is
	// written back (and so needs room) if the commit fails.
	old, rerr := os.ReadFile(abs)
	if rerr != nil {
		return rerr
	}
	u.steps = append(u.steps, undoStep{abs: abs, existed: true, old: old})
	return nil
}

// undo puts every file back as it was, the last change first, and returns
// what it could not put back.
func (u *writeUndo) undo() error {
	var errs []error
	dirs := map[string]bool{}
	for i := len(u.steps) - 1; i >= 0; i-- {
		st := u.steps[i]
		var err error
		switch {
		case st.backup != "":
			err = os.Rename(st.backup, st.abs)
			// A file never replaced is the backup's own inode, and then
			// rename does nothing: the backup name is still there.
			if rerr := os.Remove(st.backup); err == nil && rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = rerr
			}
		case st.existed:
			err = WriteFile(st.abs, st.old)
		default:
			if err = os.Remove(st.abs); errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("put back %s: %w", st.abs, err))
		}
		dirs[filepath.Dir(st.abs)] = true
	}
	for d := range dirs {
		_ = syncDir(d)
	}
	u.steps = nil
	return errors.Join(errs...)
}

// done drops the backups: the change is committed. One that cannot be
// removed now is removed by the next start's repair.
func (u *writeUndo) done() {
	for _, st := range u.steps {
		if st.backup != "" {
			os.Remove(st.backup)
		}
	}
	u.steps = nil
}

// isWriteLeftover reports whether a file name is a temporary file of
// WriteFile (".<name>.tmp-XXXX") or a backup of writeUndo
// (".<name>.undo-XXXX").
func isWriteLeftover(name string) bool {
	return strings.HasPrefix(name, ".") && (strings.Contains(name, ".tmp-") || strings.Contains(name, undoSuffix))
}

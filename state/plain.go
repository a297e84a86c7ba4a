package state

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
)

// The state directory holds only plain files and directories. A symbolic
// link inside it (services/x.yaml -> /etc/passwd, models -> /etc) would
// make aima read, serve and commit content from outside the directory, so
// it is never followed: the loader, the repair (Record) and init report
// such a file invalid (the last committed version stays in effect) and
// never read or commit it, and writes refuse to go through a linked kind
// directory. Other non-regular files (a FIFO, a device) are refused the
// same way: reading one could block or never end. The state directory
// itself may be a link (~/.aima -> /data/aima); only what is inside it is
// checked.

// LinkMessage is the problem of a symbolic link inside the state directory.
const LinkMessage = "a symbolic link; the state directory holds only plain files"

// notPlain is the problem of rel, which fi describes and which is not a
// regular file.
func notPlain(rel string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return invalid(rel, "", LinkMessage)
	case fi.IsDir():
		return invalid(rel, "", "a directory; an object is one plain file")
	}
	return invalid(rel, "", "not a plain file (%s); the state directory holds only plain files", fi.Mode().Type())
}

// dirProblem checks that the kind directory dir ("models") is a directory
// and not a link to one. It returns fs.ErrNotExist when dir does not exist.
func dirProblem(abs, dir string) error {
	fi, err := os.Lstat(abs)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return invalid(dir, "", "%s", LinkMessage+" and directories")
	case !fi.IsDir():
		return invalid(dir, "", "not a directory; %s/ holds the %s files", dir, dir)
	}
	return nil
}

// ReadPlainFile reads the object file abs (shown as rel in problems)
// without following a symbolic link: a link or another non-regular file is
// an *InvalidError naming rel, and so is a file over MaxFileSize (which is
// not read). A file swapped for a link while it is opened is refused too.
func ReadPlainFile(abs, rel string) ([]byte, error) {
	fi, err := os.Lstat(abs)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notPlain(rel, fi)
	}
	if fi.Size() > MaxFileSize {
		return nil, invalid(rel, "", "file is %d bytes; the limit is %d", fi.Size(), MaxFileSize)
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if ofi, err := f.Stat(); err != nil || !os.SameFile(fi, ofi) {
		return nil, invalid(rel, "", "replaced while it was read (by %s); read again", describe(abs))
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, invalid(rel, "", "file is over %d bytes, the limit", MaxFileSize)
	}
	return b, nil
}

func describe(abs string) string {
	if fi, err := os.Lstat(abs); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return "a symbolic link"
	}
	return "another file"
}

// CheckKindDir reports whether the kind directory abs (shown as rel) is a
// plain directory: nil when it is or does not exist, else an
// *InvalidError naming it (a symbolic link, or not a directory).
func CheckKindDir(abs, rel string) error {
	if err := dirProblem(abs, rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// parentProblem checks the directory holding the state-directory path rel:
// nil for a top-level file or a plain directory, fs.ErrNotExist when it
// does not exist, else an *InvalidError naming rel.
func (s *Store) parentProblem(rel string) error {
	dir := path.Dir(rel)
	if dir == "." {
		return nil
	}
	fi, err := os.Lstat(s.path(dir))
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return invalid(rel, "", "%s/ is a symbolic link; the state directory holds only plain files and directories", dir)
	case !fi.IsDir():
		return invalid(rel, "", "%s is not a directory", dir)
	}
	return nil
}

// readObject reads the state-directory file rel, refusing (with an
// *InvalidError naming rel) a link, a non-regular file, a file in a
// linked directory and a file over MaxFileSize. A missing file is
// fs.ErrNotExist.
func (s *Store) readObject(rel string) ([]byte, error) {
	if err := s.parentProblem(rel); err != nil {
		return nil, err
	}
	return ReadPlainFile(s.path(rel), rel)
}

// kindOfDir returns the kind whose directory is rel ("models"), or nil.
func kindOfDir(rel string) *Kind {
	for _, k := range Kinds {
		if k.Dir == rel {
			return k
		}
	}
	return nil
}

// committedNames lists the objects of kind k in the last commit, for a
// kind directory that cannot be read (it is a link): their committed
// versions stay in effect, each reported.
func (s *Store) committedNames(k *Kind) []string {
	r, err := s.gitRepo()
	if err != nil {
		return nil
	}
	tree, err := r.Tree("")
	if err != nil {
		return nil
	}
	var out []string
	for p := range tree {
		if kk, name, ok := KindOfPath(p); ok && kk == k && ValidName(name) {
			out = append(out, name)
		}
	}
	return out
}

package repo

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// Git file modes as stored in trees and in the index.
const (
	modeDir     = 0o040000
	modeFile    = 0o100644
	modeExec    = 0o100755
	modeSymlink = 0o120000
	modeGitlink = 0o160000
)

// BlobHash returns the hash git gives a file with this content, as
// `git hash-object` prints it.
func BlobHash(data []byte) string {
	h := sha1.New()
	h.Write(objectHeader(plumbing.BlobObject, len(data)))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

func objectHeader(t plumbing.ObjectType, size int) []byte {
	b := make([]byte, 0, 32)
	b = append(b, t.String()...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(size), 10)
	return append(b, 0)
}

// storeAbove is the size above which objects are stored uncompressed.
const storeAbove = 64 << 10

// writeObject stores an object (header included in obj) as a loose object
// unless it already exists, and returns its hash.
//
// Loose objects are written here rather than through go-git, which hashes
// with collision detection and compresses at the default level. Small
// objects are compressed at the fastest level, as git does by default
// (core.looseCompression = 1). Large ones, in practice the tree of a
// directory with thousands of files, are stored uncompressed: deflating a
// 10,000-entry tree (440 KB, half of it SHA-1 hashes that do not compress)
// costs ~4 ms and saves ~40 %, and `git gc` packs them with deltas anyway.
// Each new object is fsynced in the background as soon as it is written
// (syncObject), and the commit waits for all of them before it writes the
// ref that makes them reachable (syncObjects): a power cut never leaves a
// ref pointing at an object that did not reach the disk.
func (r *Repo) writeObject(obj []byte) (plumbing.Hash, error) {
	h := plumbing.Hash(sha1.Sum(obj))
	hx := h.String()
	dir := filepath.Join(r.gitDir, "objects", hx[:2])
	path := filepath.Join(dir, hx[2:])
	if _, err := os.Lstat(path); err == nil {
		return h, nil
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return h, fmt.Errorf("write object %s: %w", hx, err)
	}
	r.tmpSerial++
	tmp := filepath.Join(dir, fmt.Sprintf("tmp_obj_%d_%d", os.Getpid(), r.tmpSerial))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return h, fmt.Errorf("write object %s: %w", hx, err)
	}
	level, zw := zlib.BestSpeed, &r.zw
	if len(obj) > storeAbove {
		level, zw = zlib.NoCompression, &r.zwStore
	}
	if *zw == nil {
		*zw, _ = zlib.NewWriterLevel(f, level)
	} else {
		(*zw).Reset(f)
	}
	_, err = (*zw).Write(obj)
	if err == nil {
		err = (*zw).Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return h, fmt.Errorf("write object %s: %w", hx, err)
	}
	r.syncObject(path)
	return h, nil
}

// syncObject starts making a new object durable — the file, then the
// directory that got its name — in the background, so that the flush
// overlaps the rest of the commit; syncObjects waits for all of them. At
// most 16 run at once.
func (r *Repo) syncObject(path string) {
	if r.syncSem == nil {
		r.syncSem = make(chan struct{}, 16)
	}
	r.syncing.Add(1)
	r.syncSem <- struct{}{}
	go func() {
		defer func() { <-r.syncSem; r.syncing.Done() }()
		for _, p := range []string{path, filepath.Dir(path)} {
			f, err := os.Open(p)
			if err == nil {
				err = f.Sync()
				f.Close()
			}
			if err != nil {
				r.syncMu.Lock()
				r.syncErr = errors.Join(r.syncErr, err)
				r.syncMu.Unlock()
				return
			}
		}
	}()
}

// syncObjects waits until every object written since the last call is on
// disk: called before the ref that makes them reachable is written.
func (r *Repo) syncObjects() error {
	r.syncing.Wait()
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	err := r.syncErr
	r.syncErr = nil
	if err != nil {
		return fmt.Errorf("sync objects: %w", err)
	}
	return nil
}

// readObject returns an object's content (without header). It asks go-git,
// which reads loose objects and packs alike. If the object is missing it
// re-reads the pack list once, since a `git gc` by another process may have
// packed it since the last look.
func (r *Repo) readObject(h plumbing.Hash, want plumbing.ObjectType) ([]byte, error) {
	if b, ok, err := r.readLoose(h, want); ok || err != nil {
		return b, err
	}
	obj, err := r.st.EncodedObject(want, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		r.st.Reindex()
		obj, err = r.st.EncodedObject(want, h)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", want, h, err)
	}
	rd, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", want, h, err)
	}
	defer rd.Close()
	b := make([]byte, obj.Size())
	if _, err := io.ReadFull(rd, b); err != nil {
		return nil, fmt.Errorf("read %s %s: %w", want, h, err)
	}
	return b, nil
}

// readLoose reads a loose object straight into a buffer of the size its
// header gives: the tree of a directory with 10,000 files is ~500 KB, and
// go-git's reader grows its buffer by doubling. ok is false when there is
// no loose object (it may be packed: readObject then asks go-git).
func (r *Repo) readLoose(h plumbing.Hash, want plumbing.ObjectType) (b []byte, ok bool, err error) {
	hx := h.String()
	f, err := os.Open(filepath.Join(r.gitDir, "objects", hx[:2], hx[2:]))
	if err != nil {
		return nil, false, nil
	}
	defer f.Close()
	zr, err := zlib.NewReader(bufio.NewReaderSize(f, 32<<10))
	if err != nil {
		return nil, true, fmt.Errorf("read %s %s: %w", want, h, err)
	}
	defer zr.Close()
	br := bufio.NewReaderSize(zr, 64)
	hdr, err := br.ReadString(0)
	if err != nil {
		return nil, true, fmt.Errorf("read %s %s: header: %w", want, h, err)
	}
	typ, size, _ := strings.Cut(strings.TrimSuffix(hdr, "\x00"), " ")
	n, err := strconv.Atoi(size)
	if err != nil || n < 0 || typ != want.String() {
		return nil, true, fmt.Errorf("read %s %s: bad header %q", want, h, hdr)
	}
	b = make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, true, fmt.Errorf("read %s %s: %w", want, h, err)
	}
	return b, true, nil
}

// entry is one entry of a tree.
type entry struct {
	name string
	mode uint32
	hash plumbing.Hash
}

func (e entry) isDir() bool { return e.mode == modeDir }

// tree is a parsed tree object, its entries in git's order. A cached tree
// is never modified: Commit builds a new one.
type tree struct {
	entries []entry
}

// treeCmp compares two tree entry names in git's order, where a directory
// sorts as if its name ended in '/'.
func treeCmp(a string, aDir bool, b string, bDir bool) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	ca, cb := byte(0), byte(0)
	if len(a) > n {
		ca = a[n]
	} else if aDir {
		ca = '/'
	}
	if len(b) > n {
		cb = b[n]
	} else if bDir {
		cb = '/'
	}
	switch {
	case ca < cb:
		return -1
	case ca > cb:
		return 1
	}
	return 0
}

// find returns the position of name (a directory if dir) in entries, and
// whether it is there.
func find(entries []entry, name string, dir bool) (int, bool) {
	lo, hi := 0, len(entries)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if treeCmp(entries[m].name, entries[m].isDir(), name, dir) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(entries) && entries[lo].name == name && entries[lo].isDir() == dir
}

func parseTree(b []byte) (*tree, error) {
	t := &tree{}
	err := eachTreeEntry(b, func(mode uint32, name []byte, h plumbing.Hash) {
		t.entries = append(t.entries, entry{name: string(name), mode: mode, hash: h})
	})
	return t, err
}

// eachTreeEntry calls fn for each entry of the raw tree b. name aliases b.
func eachTreeEntry(b []byte, fn func(mode uint32, name []byte, h plumbing.Hash)) error {
	for len(b) > 0 {
		sp := bytes.IndexByte(b, ' ')
		if sp <= 0 {
			return errors.New("malformed tree entry")
		}
		var mode uint32
		for _, c := range b[:sp] {
			if c < '0' || c > '7' {
				return errors.New("malformed tree entry mode")
			}
			mode = mode<<3 | uint32(c-'0')
		}
		b = b[sp+1:]
		nul := bytes.IndexByte(b, 0)
		if nul < 0 || len(b) < nul+1+20 {
			return errors.New("truncated tree entry")
		}
		var h plumbing.Hash
		copy(h[:], b[nul+1:nul+21])
		fn(mode, b[:nul], h)
		b = b[nul+21:]
	}
	return nil
}

func modeString(mode uint32) string {
	switch mode {
	case modeDir:
		return "40000"
	case modeFile:
		return "100644"
	case modeExec:
		return "100755"
	case modeSymlink:
		return "120000"
	case modeGitlink:
		return "160000"
	}
	return strconv.FormatUint(uint64(mode), 8)
}

// encode returns the tree as a git object, header included.
func (t *tree) encode() []byte {
	size := 0
	for _, e := range t.entries {
		size += len(modeString(e.mode)) + 1 + len(e.name) + 1 + len(e.hash)
	}
	hdr := objectHeader(plumbing.TreeObject, size)
	b := make([]byte, 0, len(hdr)+size)
	b = append(b, hdr...)
	for _, e := range t.entries {
		b = append(b, modeString(e.mode)...)
		b = append(b, ' ')
		b = append(b, e.name...)
		b = append(b, 0)
		b = append(b, e.hash[:]...)
	}
	return b
}

// maxCachedEntries bounds the tree cache (about 80 bytes an entry). The
// trees of one commit with 10,000 files fit several times over; trees left
// from older commits are dropped wholesale when it fills.
const maxCachedEntries = 100_000

// tree returns the parsed tree h, from the cache when it is there.
// The caller must hold r.mu.
func (r *Repo) tree(h plumbing.Hash) (*tree, error) {
	if t, ok := r.trees[h]; ok {
		return t, nil
	}
	b, err := r.readObject(h, plumbing.TreeObject)
	if err != nil {
		return nil, err
	}
	t, err := parseTree(b)
	if err != nil {
		return nil, fmt.Errorf("parse tree %s: %w", h, err)
	}
	r.cacheTree(h, t)
	return t, nil
}

func (r *Repo) cacheTree(h plumbing.Hash, t *tree) {
	if r.cachedEntries+len(t.entries) > maxCachedEntries {
		clear(r.trees)
		r.cachedEntries = 0
	}
	if _, ok := r.trees[h]; !ok {
		r.trees[h] = t
		r.cachedEntries += len(t.entries)
	}
}

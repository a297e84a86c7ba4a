package repo

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// The index is git's cache of the work tree's stat data. Commit keeps it in
// step with the commits it makes, so that `git status` is clean afterwards
// without rehashing files. Rewriting 10,000 entries through go-git's
// decoder and encoder costs ~20 ms, so for index versions 2 and 3 we parse
// the file only far enough to find entry boundaries and splice the changed
// entries into the bytes.

// indexFixed is the size of an index entry's fixed part (version 2).
const indexFixed = 62

// statInfo is the stat data git records for a work-tree file. A zero
// statInfo never matches a file, so git compares content instead.
type statInfo struct {
	ctimeS, ctimeN, mtimeS, mtimeN uint32
	dev, ino, uid, gid, size       uint32
}

func statOf(st *syscall.Stat_t) statInfo {
	return statInfo{
		ctimeS: uint32(st.Ctim.Sec), ctimeN: uint32(st.Ctim.Nsec),
		mtimeS: uint32(st.Mtim.Sec), mtimeN: uint32(st.Mtim.Nsec),
		dev: uint32(st.Dev), ino: uint32(st.Ino),
		uid: st.Uid, gid: st.Gid, size: uint32(st.Size),
	}
}

// indexEntry is a stage-0 index entry that Commit or ResetIndex writes.
type indexEntry struct {
	path string
	mode uint32
	hash plumbing.Hash
	stat statInfo
}

// appendEntry appends e in the on-disk format of versions 2 and 3.
func appendEntry(b []byte, e *indexEntry) []byte {
	s := &e.stat
	for _, v := range [...]uint32{s.ctimeS, s.ctimeN, s.mtimeS, s.mtimeN, s.dev, s.ino, e.mode, s.uid, s.gid, s.size} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	b = append(b, e.hash[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(min(len(e.path), 0xfff)))
	b = append(b, e.path...)
	pad := (indexFixed+len(e.path)+8)&^7 - (indexFixed + len(e.path))
	return append(b, make([]byte, pad)...)
}

// indexChange is one path to update (entry != nil) or remove in the index.
type indexChange struct {
	path  string
	entry *indexEntry
}

// rawIndex is an index file of version 2 or 3, parsed to entry boundaries.
type rawIndex struct {
	data    []byte
	version uint32
	offs    []int // start of each entry, plus the end of the last one
	names   [][2]int
}

// cachedIndex is the index file as a Repo last wrote it, so that the next
// commit need not read, verify and parse it again if no one else has
// replaced it since (every writer renames a new file into place).
type cachedIndex struct {
	id fileID
	ix *rawIndex
}

// fileID identifies one version of a file.
type fileID struct {
	dev, ino, size      uint64
	mtimeSec, mtimeNsec int64
}

func fileIDOf(st *syscall.Stat_t) fileID {
	return fileID{uint64(st.Dev), st.Ino, uint64(st.Size), st.Mtim.Sec, st.Mtim.Nsec}
}

var errIndexFormat = errors.New("index format not handled by the fast path")

// parseRawIndex parses b, checking its checksum if verify.
func parseRawIndex(b []byte, verify bool) (*rawIndex, error) {
	if len(b) < 12+20 || string(b[:4]) != "DIRC" {
		return nil, errors.New("not an index file")
	}
	if verify {
		if sum := sha1.Sum(b[:len(b)-20]); !bytes.Equal(sum[:], b[len(b)-20:]) {
			return nil, errors.New("index checksum mismatch")
		}
	}
	ix := &rawIndex{data: b, version: binary.BigEndian.Uint32(b[4:])}
	if ix.version != 2 && ix.version != 3 {
		return nil, errIndexFormat
	}
	n := int(binary.BigEndian.Uint32(b[8:]))
	end := len(b) - 20
	ix.offs = make([]int, 0, n+1)
	ix.names = make([][2]int, 0, n)
	off := 12
	for range n {
		if off+indexFixed > end {
			return nil, errors.New("truncated index entry")
		}
		flags := binary.BigEndian.Uint16(b[off+60:])
		fixed := indexFixed
		if flags&0x4000 != 0 {
			if ix.version < 3 {
				return nil, errors.New("extended index entry in version 2")
			}
			fixed += 2
		}
		start := off + fixed
		nl := int(flags & 0xfff)
		if nl == 0xfff {
			i := bytes.IndexByte(b[start:end], 0)
			if i < 0 {
				return nil, errors.New("unterminated index entry name")
			}
			nl = i
		}
		size := (fixed + nl + 8) &^ 7
		if off+size > end {
			return nil, errors.New("truncated index entry")
		}
		ix.offs = append(ix.offs, off)
		ix.names = append(ix.names, [2]int{start, start + nl})
		off += size
	}
	ix.offs = append(ix.offs, off)
	// Extensions are caches (TREE, UNTR, ...) that git rebuilds, except
	// those whose signature starts with a lower-case letter: those change
	// the meaning of the file (split or sparse index).
	for p := off; p+8 <= end; {
		if c := b[p]; c < 'A' || c > 'Z' {
			return nil, errIndexFormat
		}
		p += 8 + int(binary.BigEndian.Uint32(b[p+4:]))
	}
	return ix, nil
}

func (ix *rawIndex) name(i int) []byte { return ix.data[ix.names[i][0]:ix.names[i][1]] }

// search returns the first entry whose name is >= path.
func (ix *rawIndex) search(path string, from int) int {
	lo, hi := from, len(ix.names)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if string(ix.name(m)) < path {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// splice returns the index with changes (sorted by path, unique) applied
// and the extensions dropped.
func (ix *rawIndex) splice(changes []indexChange) []byte {
	n := len(ix.names)
	out := make([]byte, 12, ix.offs[n]+len(changes)*(indexFixed+64)+20)
	copy(out, ix.data[:12])
	count := n
	pos, i := 12, 0
	for _, c := range changes {
		lo := ix.search(c.path, i)
		hi := lo
		for hi < n && string(ix.name(hi)) == c.path {
			hi++ // every stage of a conflicted path goes
		}
		out = append(out, ix.data[pos:ix.offs[lo]]...)
		count -= hi - lo
		if c.entry != nil {
			out = appendEntry(out, c.entry)
			count++
		}
		pos, i = ix.offs[hi], hi
	}
	out = append(out, ix.data[pos:ix.offs[n]]...)
	binary.BigEndian.PutUint32(out[8:], uint32(count))
	sum := sha1.Sum(out)
	return append(out, sum[:]...)
}

// encodeIndex returns a version 2 index holding entries (sorted by path).
func encodeIndex(entries []indexEntry) []byte {
	size := 12 + 20
	for i := range entries {
		size += (indexFixed + len(entries[i].path) + 8) &^ 7
	}
	out := make([]byte, 0, size)
	out = append(out, "DIRC"...)
	out = binary.BigEndian.AppendUint32(out, 2)
	out = binary.BigEndian.AppendUint32(out, uint32(len(entries)))
	for i := range entries {
		out = appendEntry(out, &entries[i])
	}
	sum := sha1.Sum(out)
	return append(out, sum[:]...)
}

// updateIndex applies changes to the index and writes it through lock,
// which the caller holds. root is the tree just committed: when there is
// no index, or it cannot be read, the index is rebuilt from root.
// The caller must hold r.mu.
func (r *Repo) updateIndex(lk *lock, changes []indexChange, root plumbing.Hash) error {
	path := filepath.Join(r.gitDir, "index")
	cached := r.index
	r.index = nil
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); errors.Is(err, syscall.ENOENT) {
		return r.rebuildIndex(lk, root)
	}
	var ix *rawIndex
	var b []byte
	var err error
	if cached != nil && cached.id == fileIDOf(&st) {
		ix = cached.ix // still the file we wrote: no need to read and verify it
	} else if b, err = os.ReadFile(path); err != nil {
		lk.release()
		return fmt.Errorf("read index: %w", err)
	} else {
		ix, err = parseRawIndex(b, true)
	}
	switch {
	case err == nil:
		out := ix.splice(changes)
		if err := lk.commitStat(out, false, &st); err != nil {
			return fmt.Errorf("write index: %w", err)
		}
		if nix, err := parseRawIndex(out, false); err == nil {
			r.index = &cachedIndex{id: fileIDOf(&st), ix: nix}
		}
		return nil
	case errors.Is(err, errIndexFormat):
		return r.updateIndexSlow(lk, b, changes)
	default:
		// A corrupt index holds nothing worth keeping: start again.
		return r.rebuildIndex(lk, root)
	}
}

// updateIndexSlow handles the index versions and extensions that the fast
// path does not (version 4's compressed names), through go-git.
func (r *Repo) updateIndexSlow(lk *lock, b []byte, changes []indexChange) error {
	idx := &index.Index{}
	if err := index.NewDecoder(bytes.NewReader(b)).Decode(idx); err != nil {
		lk.release()
		return fmt.Errorf("decode index: %w", err)
	}
	drop := make(map[string]bool, len(changes))
	for _, c := range changes {
		drop[c.path] = true
	}
	idx.Entries = slices.DeleteFunc(idx.Entries, func(e *index.Entry) bool { return drop[e.Name] })
	for _, c := range changes {
		if e := c.entry; e != nil {
			idx.Entries = append(idx.Entries, &index.Entry{
				Hash:       e.hash,
				Name:       e.path,
				CreatedAt:  time.Unix(int64(e.stat.ctimeS), int64(e.stat.ctimeN)),
				ModifiedAt: time.Unix(int64(e.stat.mtimeS), int64(e.stat.mtimeN)),
				Dev:        e.stat.dev, Inode: e.stat.ino,
				Mode: filemode.FileMode(e.mode),
				UID:  e.stat.uid, GID: e.stat.gid, Size: e.stat.size,
			})
		}
	}
	slices.SortStableFunc(idx.Entries, func(a, b *index.Entry) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return int(a.Stage) - int(b.Stage)
	})
	idx.Cache, idx.ResolveUndo, idx.EndOfIndexEntry = nil, nil, nil
	var buf bytes.Buffer
	if err := index.NewEncoder(&buf).Encode(idx); err != nil {
		lk.release()
		return fmt.Errorf("encode index: %w", err)
	}
	if err := lk.commit(buf.Bytes(), false); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	return nil
}

// ResetIndex rewrites the index from HEAD's tree, as `git reset --mixed`
// would: it repairs an index that is missing, corrupt, or out of step after
// a crash between a commit and its index update. A work-tree file whose
// content matches HEAD gets its real stat data; any other gets none, so
// git sees it as modified.
func (r *Repo) ResetIndex() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.index = nil
	lk, err := lockFile(filepath.Join(r.gitDir, "index"))
	if err != nil {
		return fmt.Errorf("reset index: %w", err)
	}
	root := plumbing.ZeroHash
	head, err := r.head()
	switch {
	case err == nil:
		if root, err = r.commitTree(head); err != nil {
			lk.release()
			return fmt.Errorf("reset index: %w", err)
		}
	case errors.Is(err, ErrNoCommits):
	default:
		lk.release()
		return fmt.Errorf("reset index: %w", err)
	}
	if err := r.rebuildIndex(lk, root); err != nil {
		return fmt.Errorf("reset index: %w", err)
	}
	return nil
}

// rebuildIndex writes, through lock, an index holding every file of tree
// root (zero: none). The caller must hold r.mu.
func (r *Repo) rebuildIndex(lk *lock, root plumbing.Hash) error {
	var entries []indexEntry
	if !root.IsZero() {
		err := r.walkTree(root, "", func(path string, mode uint32, h plumbing.Hash) {
			entries = append(entries, indexEntry{path: path, mode: mode, hash: h})
		})
		if err != nil {
			lk.release()
			return err
		}
	}
	// Tree order puts "a/" after "a.b"; the index wants plain byte order.
	slices.SortFunc(entries, func(a, b indexEntry) int { return strings.Compare(a.path, b.path) })
	for i := range entries {
		entries[i].stat = r.verifiedStat(&entries[i])
	}
	if err := lk.commit(encodeIndex(entries), false); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	return nil
}

// verifiedStat returns the stat data of e's work-tree file if its content
// is e's blob, and the zero statInfo otherwise.
func (r *Repo) verifiedStat(e *indexEntry) statInfo {
	path := filepath.Join(r.dir, filepath.FromSlash(e.path))
	var data []byte
	var st syscall.Stat_t
	switch e.mode {
	case modeSymlink:
		if err := syscall.Lstat(path, &st); err != nil {
			return statInfo{}
		}
		target, err := os.Readlink(path)
		if err != nil {
			return statInfo{}
		}
		data = []byte(target)
	case modeFile, modeExec:
		f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return statInfo{}
		}
		defer f.Close()
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
			return statInfo{}
		}
		if data, err = io.ReadAll(f); err != nil {
			return statInfo{}
		}
		if (st.Mode&0o100 != 0) != (e.mode == modeExec) {
			return statInfo{}
		}
	default:
		return statInfo{}
	}
	if BlobHash(data) != e.hash.String() {
		return statInfo{}
	}
	return statOf(&st)
}

// statChanged opens the work-tree file the caller wrote for path and
// returns its git mode and stat data. If the file no longer holds data
// (another writer got in between), the stat data is left zero so that git
// reports the file as modified rather than trusting a stale hash.
func (r *Repo) statChanged(path string, data []byte) (uint32, statInfo, error) {
	f, err := os.OpenFile(filepath.Join(r.dir, filepath.FromSlash(path)), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return 0, statInfo{}, err
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return 0, statInfo{}, err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return 0, statInfo{}, errors.New("not a regular file")
	}
	mode := uint32(modeFile)
	if st.Mode&0o100 != 0 {
		mode = modeExec
	}
	if st.Size != int64(len(data)) {
		return mode, statInfo{}, nil
	}
	buf := make([]byte, len(data)+1)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, statInfo{}, err
	}
	if !bytes.Equal(buf[:n], data) {
		return mode, statInfo{}, nil
	}
	return mode, statOf(&st), nil
}

package testenv

import (
	"bytes"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// NewKey makes an OpenPGP key in-process (no gpg needed) and returns it
// with its armored public key, as it goes into .local/trusted-keys/.
func NewKey(t testing.TB, name string) (*openpgp.Entity, []byte) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return e, b.Bytes()
}

// Commit commits everything staged in the git work tree dir as an outsider
// would push it — signed with key, or unsigned when key is nil — and
// returns the commit.
func Commit(t testing.TB, dir, msg string, key *openpgp.Entity) string {
	t.Helper()
	g, err := gogit.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := g.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	who := &object.Signature{Name: "Outsider", Email: "out@example.com", When: time.Now()}
	h, err := wt.Commit(msg, &gogit.CommitOptions{Author: who, Committer: who, SignKey: key, AllowEmptyCommits: true})
	if err != nil {
		t.Fatalf("commit %q: %v", msg, err)
	}
	return h.String()
}

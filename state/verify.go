package state

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TrustedKeysDir holds the OpenPGP public keys whose signatures a pull or a
// follower with VerifySignatures accepts: every *.asc, *.gpg and *.pub file
// in it (armored, or binary as gpg --export writes). It is under .local/,
// so it is never committed and never pulled: only the machine's owner puts
// keys there.
const TrustedKeysDir = ".local/trusted-keys"

// TrustedKeyRing reads every key file of .local/trusted-keys/ and returns
// them as one armored key ring (what go-git's Commit.Verify takes) and the
// number of keys. No key, or a file that is not an OpenPGP key, is an error
// naming the directory or the file: verification never silently trusts
// nothing or everything.
func (s *Store) TrustedKeyRing() (string, int, error) {
	dir := s.path(TrustedKeysDir)
	des, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", 0, fmt.Errorf("trusted keys %s: %w", dir, err)
	}
	var names []string
	for _, de := range des {
		switch strings.ToLower(filepath.Ext(de.Name())) {
		case ".asc", ".gpg", ".pub":
			if !de.IsDir() {
				names = append(names, de.Name())
			}
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "", 0, fmt.Errorf("%w: --verify-signatures: no trusted keys in %s: put the OpenPGP public keys of who may sign the followed branch there (gpg --armor --export KEYID > %s/NAME.asc)",
			ErrInvalid, dir, dir)
	}
	var all openpgp.EntityList
	for _, n := range names {
		p := filepath.Join(dir, n)
		b, err := os.ReadFile(p)
		if err != nil {
			return "", 0, fmt.Errorf("trusted key %s: %w", p, err)
		}
		var el openpgp.EntityList
		if bytes.Contains(b, []byte("-----BEGIN PGP")) {
			el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
		} else {
			el, err = openpgp.ReadKeyRing(bytes.NewReader(b))
		}
		if err == nil && len(el) == 0 {
			err = errors.New("no key in it")
		}
		if err != nil {
			return "", 0, fmt.Errorf("%w: trusted key %s: not an OpenPGP public key: %v", ErrInvalid, p, err)
		}
		all = append(all, el...)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return "", 0, err
	}
	for _, e := range all {
		if err := e.Serialize(w); err != nil {
			return "", 0, fmt.Errorf("trusted keys %s: %w", dir, err)
		}
	}
	if err := w.Close(); err != nil {
		return "", 0, err
	}
	return buf.String(), len(all), nil
}

// verifyCommit checks that commit rev carries an OpenPGP signature made by
// a key of keyRing; it returns "" when it does, else why not.
func (s *Store) verifyCommit(rev, keyRing string) string {
	g, err := git.PlainOpen(s.Dir)
	if err != nil {
		return fmt.Sprintf("open git repository %s: %v", s.Dir, err)
	}
	c, err := object.GetCommit(g.Storer, plumbing.NewHash(rev))
	if err != nil {
		return fmt.Sprintf("commit %s cannot be read: %v", rev, err)
	}
	sig := strings.TrimSpace(c.PGPSignature)
	switch {
	case sig == "":
		return fmt.Sprintf("commit %s is not signed; --verify-signatures applies only commits signed by a key in %s/", rev, TrustedKeysDir)
	case !strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----"):
		return fmt.Sprintf("commit %s is not signed with OpenPGP (SSH and X.509 signatures are not verified); --verify-signatures applies only commits signed by a key in %s/", rev, TrustedKeysDir)
	}
	if _, err = c.Verify(keyRing); err == nil {
		return ""
	}
	id := signerKeyID(sig)
	if errors.Is(err, pgperrors.ErrUnknownIssuer) {
		return fmt.Sprintf("commit %s is signed by key %s, which is not in %s/", rev, id, TrustedKeysDir)
	}
	return fmt.Sprintf("commit %s: the signature by key %s does not verify: %v", rev, id, err)
}

// signerKeyID is the issuer of an armored signature, as gpg prints it
// (16 hex digits), or "unknown".
func signerKeyID(armored string) string {
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return "unknown"
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		return "unknown"
	}
	sig, ok := p.(*packet.Signature)
	switch {
	case !ok:
		return "unknown"
	case len(sig.IssuerFingerprint) > 0:
		return fmt.Sprintf("%X", sig.IssuerFingerprint)
	case sig.IssuerKeyId != nil:
		return fmt.Sprintf("%016X", *sig.IssuerKeyId)
	}
	return "unknown"
}

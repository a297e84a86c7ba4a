package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenPath is the agent's own bearer token, relative to the state
// directory: generated on the first start, mode 0600, never committed (it
// is under .local/). The CLI of the same user reads it from there, so the
// owner never types it; another local user cannot read it.
const TokenPath = ".local/token"

// EnsureToken returns the token in dir's .local/token, generating one (256
// random bits) when there is none. An empty or whitespace token file is an
// error, never "no token".
func EnsureToken(dir string) (string, error) {
	path := filepath.Join(dir, filepath.FromSlash(TokenPath))
	tok, err := ReadTokenFile(path)
	if err == nil {
		_ = os.Chmod(path, 0o600) // a copied file keeps its secret to its owner
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok = hex.EncodeToString(b[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return ReadTokenFile(path) // another process made it first
	}
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	_, werr := f.WriteString(tok + "\n")
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return "", fmt.Errorf("token %s: %w", path, werr)
	}
	return tok, nil
}

// ReadTokenFile reads a token file (.local/token, --token-file): its first
// line, trimmed. A file with no token in it is an error.
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	tok := strings.TrimSpace(line)
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty: put a token in it, or remove it to have one generated", path)
	}
	return tok, nil
}

// ClientToken is the token a client on this machine sends to the agent of
// dir: $AIMA_TOKEN (its first secret), else .local/token; "" when neither.
func ClientToken(dir string) string {
	if toks := ParseTokens(os.Getenv("AIMA_TOKEN")); len(toks) > 0 {
		return toks[0].Secret
	}
	tok, _ := ReadTokenFile(filepath.Join(dir, filepath.FromSlash(TokenPath)))
	return tok
}

// Package signing holds the server's ed25519 key and signs and verifies the
// exact bytes of the catalog.
package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/distpac/distpac/internal/fsutil"
)

// KeyPrefix starts every textual public key, so a key is recognisable in a
// config file.
const KeyPrefix = "ed25519:"

// ErrBadSignature means the signature does not match the bytes and key.
var ErrBadSignature = errors.New("signature does not match the catalog (wrong key, or the file was altered)")

// PublicKey is an ed25519 public key.
type PublicKey ed25519.PublicKey

// String gives the textual form "ed25519:<base64>".
func (k PublicKey) String() string { return KeyPrefix + base64.StdEncoding.EncodeToString(k) }

// Equal reports whether two keys are the same.
func (k PublicKey) Equal(o PublicKey) bool { return bytes.Equal(k, o) }

// ParsePublicKey reads "ed25519:<base64>" (the prefix is optional).
func ParsePublicKey(s string) (PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), KeyPrefix))
	if err != nil {
		return nil, fmt.Errorf("public key %q: not base64 (%w); want ed25519:<base64>, as dist-server key prints it", s, err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key %q: %d bytes, want %d (ed25519:<base64>, as dist-server key prints it)", s, len(raw), ed25519.PublicKeySize)
	}
	return PublicKey(raw), nil
}

// Key is the server's private signing key.
type Key struct{ priv ed25519.PrivateKey }

// Public returns the public half.
func (k *Key) Public() PublicKey { return PublicKey(k.priv.Public().(ed25519.PublicKey)) }

// Sign signs data.
func (k *Key) Sign(data []byte) []byte { return ed25519.Sign(k.priv, data) }

// LoadOrCreate reads the key at path, creating it (mode 0600, written
// atomically) when it does not exist yet.
func LoadOrCreate(path string) (*Key, error) {
	k, err := Load(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	// Write the key beside its place, then link it there: link fails if a
	// key appeared meanwhile (a server start racing the first add), and
	// then both use that one instead of each keeping its own.
	text := base64.StdEncoding.EncodeToString(priv.Seed()) + "\n"
	tmp := path + ".new-" + strconv.Itoa(os.Getpid())
	if err := fsutil.WriteFileAtomic(tmp, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return Load(path)
		}
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	if err := fsutil.SyncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	return &Key{priv: priv}, nil
}

// Load reads an existing key file.
func Load(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("read signing key %s: not a base64 ed25519 seed", path)
	}
	return &Key{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// Verify checks sig over data with pub.
func Verify(pub PublicKey, data, sig []byte) error {
	if err := checkSizes(pub, sig); err != nil {
		return err
	}
	if !ed25519.Verify(ed25519.PublicKey(pub), data, sig) {
		return ErrBadSignature
	}
	return nil
}

func checkSizes(pub PublicKey, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("public key has %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("signature has %d bytes, want %d: %w", len(sig), ed25519.SignatureSize, ErrBadSignature)
	}
	return nil
}

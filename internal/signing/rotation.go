package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A key rotation statement says, signed by the old key, that the old key
// hands over to a new one from a catalog serial on. The server publishes
// every statement it ever made, oldest first, in one file next to the
// catalog (packages.db.rotation), so a client that pinned any earlier key
// can walk the chain to the current one. One statement is exactly:
//
//	distpac key rotation v1
//	old ed25519:<base64>
//	new ed25519:<base64>
//	serial <first catalog serial signed by the new key>
//	time <RFC 3339, UTC>
//	signature <base64 ed25519 signature by old over the five lines above>
//
// and statements are separated by one empty line. The format is line-based
// and exact (no other spacing, no other order, no CR) so that the signed
// bytes are the bytes parsed: nothing is re-encoded before verifying.

// Limits on a rotation file from the network. A server rotating its key
// every day for a year writes 366 statements of about 300 bytes.
const (
	MaxRotationFile       = 256 << 10
	MaxRotationStatements = 1024
)

const rotationHeader = "distpac key rotation v1\n"

// Sentinel errors; test with errors.Is.
var (
	// ErrRotationFormat: the file is not a well-formed rotation chain.
	ErrRotationFormat = errors.New("malformed key rotation statement")
	// ErrForgedRotation: a statement names the pinned key as the old key
	// but that key did not sign it.
	ErrForgedRotation = errors.New("key rotation statement not signed by the key it names as old")
	// ErrRotationFork: the pinned key (or a key after it) hands over to two
	// different keys; no client can tell which is genuine.
	ErrRotationFork = errors.New("the key hands over to two different keys")
)

// Rotation is one statement.
type Rotation struct {
	Old, New PublicKey
	Serial   int64     // the first catalog serial signed by New
	Time     time.Time // when the rotation was made, UTC, second precision
	Sig      []byte    // by Old over Body()
}

// Body is the exact text the signature covers.
func (r Rotation) Body() []byte {
	var b bytes.Buffer
	b.WriteString(rotationHeader)
	fmt.Fprintf(&b, "old %s\nnew %s\nserial %d\ntime %s\n", r.Old, r.New, r.Serial, r.Time.UTC().Format(time.RFC3339))
	return b.Bytes()
}

// Marshal is the statement as served: Body and the signature line.
func (r Rotation) Marshal() []byte {
	return append(r.Body(), "signature "+base64.StdEncoding.EncodeToString(r.Sig)+"\n"...)
}

// NewRotation makes the statement by which old hands over to next from
// catalog serial on.
func NewRotation(old *Key, next PublicKey, serial int64, at time.Time) Rotation {
	r := Rotation{Old: old.Public(), New: next, Serial: serial, Time: at.UTC().Truncate(time.Second)}
	r.Sig = old.Sign(r.Body())
	return r
}

// Verify checks that Old signed the statement.
func (r Rotation) Verify() error {
	if err := Verify(r.Old, r.Body(), r.Sig); err != nil {
		return fmt.Errorf("%w (old %s, new %s, serial %d): %w", ErrForgedRotation, r.Old.Fingerprint(), r.New.Fingerprint(), r.Serial, err)
	}
	return nil
}

// MarshalRotations is a chain file: the statements, oldest first.
func MarshalRotations(rs []Rotation) []byte {
	var b bytes.Buffer
	for i, r := range rs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.Write(r.Marshal())
	}
	return b.Bytes()
}

// ParseRotations reads a chain file. It checks the form of every statement,
// not the signatures: which statements matter depends on the key a client
// pinned (see Follow). An empty file is an empty chain.
func ParseRotations(data []byte) ([]Rotation, error) {
	if len(data) > MaxRotationFile {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrRotationFormat, len(data), MaxRotationFile)
	}
	if len(data) == 0 {
		return nil, nil
	}
	text := string(data)
	var out []Rotation
	for n := 1; ; n++ {
		if n > MaxRotationStatements {
			return nil, fmt.Errorf("%w: more than %d statements", ErrRotationFormat, MaxRotationStatements)
		}
		r, rest, err := parseRotation(text)
		if err != nil {
			return nil, fmt.Errorf("%w: statement %d: %w", ErrRotationFormat, n, err)
		}
		out = append(out, r)
		if rest == "" {
			return out, nil
		}
		var ok bool
		if text, ok = strings.CutPrefix(rest, "\n"); !ok || text == "" {
			return nil, fmt.Errorf("%w: after statement %d: want one empty line and another statement", ErrRotationFormat, n)
		}
	}
}

// parseRotation reads one statement from the start of text and returns
// what follows it.
func parseRotation(text string) (Rotation, string, error) {
	var r Rotation
	rest, ok := strings.CutPrefix(text, rotationHeader)
	if !ok {
		return r, "", fmt.Errorf("does not start with %q", strings.TrimSuffix(rotationHeader, "\n"))
	}
	fields := []string{"old", "new", "serial", "time", "signature"}
	vals := make([]string, len(fields))
	for i, name := range fields {
		line, after, found := strings.Cut(rest, "\n")
		if !found {
			return r, "", fmt.Errorf("line %q: missing or not ended by a newline", name)
		}
		v, ok := strings.CutPrefix(line, name+" ")
		if !ok || v == "" || strings.ContainsAny(v, " \t\r") {
			return r, "", fmt.Errorf("line %d: want %q and one value, got %q", i+2, name, clip(line))
		}
		vals[i], rest = v, after
	}
	var err error
	if r.Old, err = parseExactKey(vals[0]); err != nil {
		return r, "", fmt.Errorf("old: %w", err)
	}
	if r.New, err = parseExactKey(vals[1]); err != nil {
		return r, "", fmt.Errorf("new: %w", err)
	}
	if r.Old.Equal(r.New) {
		return r, "", errors.New("old and new are the same key")
	}
	if r.Serial, err = strconv.ParseInt(vals[2], 10, 64); err != nil || r.Serial < 1 || strconv.FormatInt(r.Serial, 10) != vals[2] {
		return r, "", fmt.Errorf("serial: %q is not a positive number", clip(vals[2]))
	}
	if r.Time, err = time.Parse(time.RFC3339, vals[3]); err != nil || r.Time.UTC().Format(time.RFC3339) != vals[3] {
		return r, "", fmt.Errorf("time: %q is not an RFC 3339 UTC time like 2026-01-02T15:04:05Z", clip(vals[3]))
	}
	r.Time = r.Time.UTC()
	if r.Sig, err = base64.StdEncoding.Strict().DecodeString(vals[4]); err != nil || len(r.Sig) != ed25519.SignatureSize {
		return r, "", fmt.Errorf("signature: want %d bytes in standard base64", ed25519.SignatureSize)
	}
	return r, rest, nil
}

// parseExactKey reads "ed25519:<base64>" written exactly as String writes
// it, so that the signed text is the canonical one.
func parseExactKey(s string) (PublicKey, error) {
	if !strings.HasPrefix(s, KeyPrefix) {
		return nil, fmt.Errorf("%q does not start with %q", clip(s), KeyPrefix)
	}
	k, err := ParsePublicKey(s)
	if err != nil {
		return nil, err
	}
	if k.String() != s {
		return nil, fmt.Errorf("%q is not in canonical form", clip(s))
	}
	return k, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Follow walks the chain from the pinned key: it takes the statement whose
// old key is pinned, checks that pinned signed it, moves to its new key and
// goes on, until no statement hands over from the current key. It returns
// the statements followed (none when the pinned key never rotated). A
// statement naming a key on the way as old but not signed by it is
// ErrForgedRotation; a key handing over to two keys is ErrRotationFork.
// Statements from keys off the path are ignored: they prove nothing to this
// client.
func Follow(chain []Rotation, pinned PublicKey) ([]Rotation, error) {
	var path []Rotation
	cur := pinned
	seen := map[string]bool{string(cur): true}
	for range len(chain) {
		var next *Rotation
		for i := range chain {
			r := &chain[i]
			if !r.Old.Equal(cur) {
				continue
			}
			if err := r.Verify(); err != nil {
				return nil, err
			}
			if next != nil && !next.New.Equal(r.New) {
				return nil, fmt.Errorf("%w: %s hands over to %s and to %s", ErrRotationFork, cur.Fingerprint(), next.New.Fingerprint(), r.New.Fingerprint())
			}
			next = r
		}
		if next == nil || seen[string(next.New)] {
			// A key handed back to an earlier one ends the walk there: the
			// chain is a history, not a loop to run around.
			break
		}
		path = append(path, *next)
		cur = next.New
		seen[string(cur)] = true
	}
	return path, nil
}

// Fingerprint is the short form people compare, as OpenSSH shows keys:
// "SHA256:" and the unpadded base64 of the key's SHA-256.
func (k PublicKey) Fingerprint() string {
	sum := sha256.Sum256(k)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

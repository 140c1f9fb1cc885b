package signing

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newTestKey(t testing.TB) *Key {
	t.Helper()
	k, err := LoadOrCreate(filepath.Join(t.TempDir(), "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var at = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func TestRotationRoundTrip(t *testing.T) {
	a, b, c := newTestKey(t), newTestKey(t), newTestKey(t)
	chain := []Rotation{NewRotation(a, b.Public(), 5, at), NewRotation(b, c.Public(), 9, at.Add(time.Hour))}
	data := MarshalRotations(chain)
	got, err := ParseRotations(data)
	if err != nil {
		t.Fatalf("ParseRotations: %v\n%s", err, data)
	}
	if len(got) != 2 || !bytes.Equal(MarshalRotations(got), data) {
		t.Fatalf("round trip changed the chain:\n%s\nbecame\n%s", data, MarshalRotations(got))
	}
	for _, r := range got {
		if err := r.Verify(); err != nil {
			t.Error(err)
		}
	}
	if !strings.HasPrefix(string(data), "distpac key rotation v1\nold ed25519:") {
		t.Errorf("unexpected form:\n%s", data)
	}
}

func TestFollow(t *testing.T) {
	a, b, c, x := newTestKey(t), newTestKey(t), newTestKey(t), newTestKey(t)
	ab, bc := NewRotation(a, b.Public(), 5, at), NewRotation(b, c.Public(), 9, at)
	forged := NewRotation(x, b.Public(), 5, at)
	forged.Old = a.Public() // claims to come from a, signed by x
	tests := []struct {
		name    string
		chain   []Rotation
		pinned  PublicKey
		wantEnd PublicKey // nil: no rotation followed
		wantErr error
	}{
		{"no chain", nil, a.Public(), nil, nil},
		{"one step", []Rotation{ab}, a.Public(), b.Public(), nil},
		{"two steps, listed in any order", []Rotation{bc, ab}, a.Public(), c.Public(), nil},
		{"pinned the middle key", []Rotation{ab, bc}, b.Public(), c.Public(), nil},
		{"pinned the current key", []Rotation{ab, bc}, c.Public(), nil, nil},
		{"a statement from another key only", []Rotation{NewRotation(x, c.Public(), 3, at)}, a.Public(), nil, nil},
		{"forged: names the pinned key, signed by another", []Rotation{forged}, a.Public(), nil, ErrForgedRotation},
		{"fork", []Rotation{ab, NewRotation(a, c.Public(), 5, at)}, a.Public(), nil, ErrRotationFork},
		{"handed back", []Rotation{ab, NewRotation(b, a.Public(), 7, at)}, a.Public(), b.Public(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, err := Follow(tt.chain, tt.pinned)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantEnd == nil {
				if len(path) != 0 {
					t.Fatalf("followed %d statements, want none", len(path))
				}
				return
			}
			if len(path) == 0 || !path[len(path)-1].New.Equal(tt.wantEnd) {
				t.Fatalf("path = %v, want it to end at %s", path, tt.wantEnd)
			}
		})
	}
}

func TestParseRotationsRefuses(t *testing.T) {
	a, b := newTestKey(t), newTestKey(t)
	good := string(NewRotation(a, b.Public(), 5, at).Marshal())
	sub := func(old, new string) []byte { return []byte(strings.Replace(good, old, new, 1)) }
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"other header", sub("v1", "v2"), "does not start with"},
		{"CRLF", []byte(strings.ReplaceAll(good, "\n", "\r\n")), "does not start with"},
		{"no final newline", []byte(strings.TrimSuffix(good, "\n")), `line "signature"`},
		{"extra space", sub("serial 5", "serial  5"), `want "serial" and one value`},
		{"lines swapped", sub("serial 5\ntime", "time 5\nserial"), `want "serial"`},
		{"serial zero", sub("serial 5", "serial 0"), "not a positive number"},
		{"serial with sign", sub("serial 5", "serial +5"), "not a positive number"},
		{"local time", sub("T12:00:00Z", "T12:00:00+01:00"), "RFC 3339 UTC"},
		{"key without prefix", sub("old ed25519:", "old "), `does not start with "ed25519:"`},
		{"short signature", sub("signature ", "signature AAAA"), "want 64 bytes"},
		{"same key twice", []byte(strings.Replace(good, b.Public().String(), a.Public().String(), 1)), "same key"},
		{"two statements without a blank line", []byte(good + good), "want one empty line"},
		{"trailing blank line", []byte(good + "\n"), "want one empty line"},
		{"too large", bytes.Repeat([]byte("x"), MaxRotationFile+1), "the limit is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRotations(tt.data)
			if !errors.Is(err, ErrRotationFormat) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrRotationFormat containing %q", err, tt.want)
			}
		})
	}
}

// FuzzParseRotations holds ParseRotations to two promises: it never panics,
// and what it accepts marshals back to the very bytes it read (so the
// signed text is the parsed text).
func FuzzParseRotations(f *testing.F) {
	a, b := newTestKey(f), newTestKey(f)
	one := NewRotation(a, b.Public(), 5, at)
	f.Add(one.Marshal())
	f.Add(MarshalRotations([]Rotation{one, NewRotation(b, a.Public(), 6, at)}))
	f.Add([]byte("distpac key rotation v1\nold x\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseRotations(data)
		if err != nil {
			if !errors.Is(err, ErrRotationFormat) {
				t.Fatalf("error is not ErrRotationFormat: %v", err)
			}
			return
		}
		if out := MarshalRotations(rs); !bytes.Equal(out, data) {
			t.Fatalf("accepted %q but marshals back as %q", data, out)
		}
		for _, r := range rs {
			Follow(rs, r.Old) // must not panic or loop
		}
	})
}

package signing

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
)

// groupOrder is l, the order of Ed25519's base point.
var groupOrder, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

// plusOrder returns sig with l added to its S: the same value mod l, no
// longer canonical, which RFC 8032 requires a verifier to refuse.
func plusOrder(sig []byte) []byte {
	le := func(b []byte) []byte { // little-endian <-> big-endian
		r := bytes.Clone(b)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return r
	}
	s := new(big.Int).SetBytes(le(sig[32:]))
	s.Add(s, groupOrder)
	out := bytes.Clone(sig)
	copy(out[32:], le(s.FillBytes(make([]byte, 32))))
	return out
}

func TestVerifyFileAgreesWithVerify(t *testing.T) {
	k, other := newTestKey(t), newTestKey(t)
	msg := bytes.Repeat([]byte("catalog page "), 100_003) // crosses VerifyFile's blocks unevenly
	sig := k.Sign(msg)
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	notAPoint := PublicKey(bytes.Repeat([]byte{0xff}, 32))
	identity := PublicKey(append([]byte{1}, make([]byte, 31)...)) // a point of small order

	tests := []struct {
		name string
		pub  PublicKey
		msg  []byte
		sig  []byte
		ok   bool
	}{
		{"signed bytes", k.Public(), msg, sig, true},
		{"empty file", k.Public(), nil, k.Sign(nil), true},
		{"one byte changed", k.Public(), flip(msg, len(msg)/2), sig, false},
		{"one byte more", k.Public(), append(bytes.Clone(msg), 0), sig, false},
		{"R changed", k.Public(), msg, flip(sig, 3), false},
		{"S changed", k.Public(), msg, flip(sig, 40), false},
		{"S plus the group order", k.Public(), msg, plusOrder(sig), false},
		{"top bit of S set", k.Public(), msg, func() []byte { c := bytes.Clone(sig); c[63] |= 0x80; return c }(), false},
		{"another key", other.Public(), msg, sig, false},
		{"key not a point", notAPoint, msg, sig, false},
		{"key of small order", identity, msg, sig, false},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, string(rune('a'+i)))
			if err := os.WriteFile(path, tt.msg, 0o644); err != nil {
				t.Fatal(err)
			}
			std := ed25519.Verify(ed25519.PublicKey(tt.pub), tt.msg, tt.sig)
			if std != tt.ok {
				t.Fatalf("crypto/ed25519 says %v, the case expects %v", std, tt.ok)
			}
			err := VerifyFile(tt.pub, path, tt.sig)
			if tt.ok && err != nil {
				t.Fatalf("VerifyFile: %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("VerifyFile: %v, want ErrBadSignature", err)
			}
			if mem := Verify(tt.pub, tt.msg, tt.sig); (mem == nil) != tt.ok {
				t.Fatalf("Verify: %v", mem)
			}
		})
	}
}

func TestVerifyFileErrors(t *testing.T) {
	k := newTestKey(t)
	path := filepath.Join(t.TempDir(), "missing")
	if err := VerifyFile(k.Public(), path, make([]byte, 64)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	if err := VerifyFile(k.Public(), path, make([]byte, 20)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("short signature: %v, want ErrBadSignature", err)
	}
	if err := VerifyFile(k.Public()[:20], path, make([]byte, 64)); err == nil || errors.Is(err, ErrBadSignature) {
		t.Errorf("short key: %v, want a size error", err)
	}
}

// FuzzVerifyFile holds the streaming check to crypto/ed25519's answer for
// any message and any signature bytes, and for the real signature with any
// one bit changed.
func FuzzVerifyFile(f *testing.F) {
	k := newTestKey(f)
	f.Add([]byte("catalog"), []byte{}, uint16(0), false)
	f.Add([]byte("catalog"), []byte{}, uint16(0), true)
	f.Add([]byte(""), bytes.Repeat([]byte{0xff}, 64), uint16(0), false)
	f.Fuzz(func(t *testing.T, msg, sigIn []byte, bit uint16, tamper bool) {
		sig := sigIn
		if len(sig) != 64 {
			sig = k.Sign(msg)
			if tamper {
				sig[int(bit/8)%64] ^= 1 << (bit % 8)
			}
		}
		want := ed25519.Verify(ed25519.PublicKey(k.Public()), msg, sig)
		err := verifyReader(k.Public(), bytes.NewReader(msg), sig)
		if want != (err == nil) {
			t.Fatalf("crypto/ed25519 says %v, verifyReader %v", want, err)
		}
		if err != nil && !errors.Is(err, ErrBadSignature) {
			t.Fatalf("error %v is not ErrBadSignature", err)
		}
	})
}

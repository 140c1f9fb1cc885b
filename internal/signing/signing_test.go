package signing

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestSignVerify(t *testing.T) {
	dir := t.TempDir()
	k, err := LoadOrCreate(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreate(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	if !k.Public().Equal(again.Public()) {
		t.Fatal("reloading the key gave another key")
	}
	other, err := LoadOrCreate(filepath.Join(dir, "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("catalog bytes")
	sig := k.Sign(data)
	flipped := append([]byte(nil), data...)
	flipped[0] ^= 1
	tests := []struct {
		name string
		pub  PublicKey
		data []byte
		sig  []byte
		ok   bool
	}{
		{"good", k.Public(), data, sig, true},
		{"data altered by one bit", k.Public(), flipped, sig, false},
		{"other key", other.Public(), data, sig, false},
		{"signature from other key", k.Public(), data, other.Sign(data), false},
		{"truncated signature", k.Public(), data, sig[:10], false},
		{"empty signature", k.Public(), data, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.pub, tt.data, tt.sig)
			if tt.ok != (err == nil) {
				t.Fatalf("Verify = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("error %v is not ErrBadSignature", err)
			}
		})
	}
}

func TestParsePublicKey(t *testing.T) {
	k, err := LoadOrCreate(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	text := k.Public().String()
	tests := []struct {
		in string
		ok bool
	}{
		{text, true},
		{text[len(KeyPrefix):], true},
		{"ed25519:AAAA", false},
		{"not base64 !!", false},
		{"", false},
	}
	for _, tt := range tests {
		got, err := ParsePublicKey(tt.in)
		if tt.ok != (err == nil) {
			t.Fatalf("ParsePublicKey(%q) = %v", tt.in, err)
		}
		if tt.ok && !got.Equal(k.Public()) {
			t.Fatalf("ParsePublicKey(%q) gave another key", tt.in)
		}
		// A refusal shows the form wanted (a user typed or pasted it).
		if !tt.ok && !strings.Contains(err.Error(), "want ed25519:<base64>") && !strings.Contains(err.Error(), "(ed25519:<base64>") {
			t.Errorf("ParsePublicKey(%q): %v does not show the form wanted", tt.in, err)
		}
	}
}

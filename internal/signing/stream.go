package signing

import (
	"bytes"
	"crypto/sha512"
	"fmt"
	"io"
	"os"

	"filippo.io/edwards25519"
)

// VerifyFile checks sig over the bytes of the file at path with pub, as
// Verify does over the same bytes in memory, reading the file once in
// small blocks. A catalog is verified before anything else about it is
// trusted, and may be as large as a client accepts (256 MiB by default):
// read into memory, a hostile server's catalog with a bad signature took
// a sync to 283 MB of RSS before it was refused (attacker run, 2026-12-04).
//
// Ed25519 (RFC 8032) reads the message only through SHA-512(R || A || M),
// so that hash is taken as the file is read; the rest is crypto/ed25519's
// own check ([S]B = R + [k]A, with S canonical and A a valid point) on
// filippo.io/edwards25519, the package the standard library's copy comes
// from. TestVerifyFileAgreesWithVerify and FuzzVerifyFile hold the two
// to the same answers.
func VerifyFile(pub PublicKey, path string, sig []byte) error {
	if err := checkSizes(pub, sig); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return verifyReader(pub, f, sig)
}

// verifyReader is VerifyFile over r; pub and sig have their sizes.
func verifyReader(pub PublicKey, r io.Reader, sig []byte) error {
	if sig[63]&0xe0 != 0 { // the top three bits of S are never set
		return ErrBadSignature
	}
	A, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return ErrBadSignature
	}
	S, err := new(edwards25519.Scalar).SetCanonicalBytes(sig[32:])
	if err != nil {
		return ErrBadSignature
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(pub)
	if _, err := io.CopyBuffer(h, r, make([]byte, 64<<10)); err != nil {
		return fmt.Errorf("read the signed file: %w", err)
	}
	k, err := new(edwards25519.Scalar).SetUniformBytes(h.Sum(nil))
	if err != nil {
		return err // 64 bytes from SHA-512: never
	}
	// [S]B = R + [k]A, checked as [k](-A) + [S]B = R.
	minusA := new(edwards25519.Point).Negate(A)
	R := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, minusA, S)
	if !bytes.Equal(sig[:32], R.Bytes()) {
		return ErrBadSignature
	}
	return nil
}

package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/distpac/distpac/internal/fsutil"
)

// VerifyFile checks that the file at path is this row's archive: its size
// and SHA-256 are the catalog's. It is the one check of a downloaded or
// cached archive, for clients and mirrors alike.
// ErrMismatch is VerifyFile's error for a file that is not the archive
// its row describes (size or SHA-256), as against one it could not read.
var ErrMismatch = errors.New("the archive is corrupt or was tampered with")

func (p Package) VerifyFile(path string) error {
	// A FIFO would block a plain open until a writer came (an attacker's
	// run hung install on one in the cache).
	f, err := fsutil.OpenRegular(path, true)
	if errors.Is(err, fsutil.ErrNotRegular) {
		return fmt.Errorf("verify %s: %s is not a regular file", p.Archive, path)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != p.Size {
		return fmt.Errorf("verify %s: %d bytes, catalog says %d: %w", p.Archive, st.Size(), p.Size, ErrMismatch)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("verify %s: %w", p.Archive, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != p.SHA256 {
		return fmt.Errorf("verify %s: sha256 %s, catalog says %s: %w", p.Archive, got, p.SHA256, ErrMismatch)
	}
	return nil
}

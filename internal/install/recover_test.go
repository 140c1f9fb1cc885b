package install

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/distpac/distpac/internal/state"
)

// Recovery discards every work directory left in the data home's staging,
// but in the prefix's staging, which another data home installing into the
// same prefix shares, only this data home's: the other's may be an upgrade
// in progress holding the old files it set aside.
func TestRecoverDiscardsOnlyItsOwnWork(t *testing.T) {
	w := newWorld(t)
	c := w.client
	shared := filepath.Join(c.Config.Prefix, state.StagingDirName)
	mine := filepath.Join(shared, c.txnPrefix()+"123")
	theirs := filepath.Join(shared, "txn-0badc0de-456")
	private := filepath.Join(c.Paths.Staging(), "txn-789")
	for _, d := range []string{mine, theirs, private} {
		if err := os.MkdirAll(filepath.Join(d, "old"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := c.begin(context.Background(), "test", false)
	if err != nil {
		t.Fatal(err)
	}
	tx.close()
	for _, tt := range []struct {
		dir  string
		kept bool
	}{{mine, false}, {private, false}, {theirs, true}} {
		_, err := os.Stat(tt.dir)
		if kept := err == nil; kept != tt.kept {
			t.Errorf("%s kept = %v, want %v", tt.dir, kept, tt.kept)
		}
	}
	// Two data homes get different prefixes.
	other := *c
	other.Paths.Dir = c.Paths.Dir + "-2"
	if other.txnPrefix() == c.txnPrefix() {
		t.Errorf("two data homes share the work directory prefix %q", c.txnPrefix())
	}
}

package install

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/disktest"
)

// TestDiskSpaceCheck refuses a plan larger than the free space before
// anything is downloaded, naming both numbers.
func TestDiskSpaceCheck(t *testing.T) {
	w := newWorld(t)
	w.publish(w.pkg("big", "1.0.0", map[string]string{"assets/big": strings.Repeat("x", 3<<20)}))
	mnt := filepath.Join(w.dir, "small")
	disktest.Tmpfs(t, mnt, "2m")
	w.client.Config.Prefix = filepath.Join(mnt, "prefix")
	err := w.client.Install(context.Background(), []string{"big"})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), mnt) || !strings.Contains(err.Error(), "2.0 MiB free") || !strings.Contains(err.Error(), "this needs 7.") {
		t.Fatalf("err = %v", err)
	}
}

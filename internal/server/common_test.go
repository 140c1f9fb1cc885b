package server

import (
	"errors"
	"os"
	"testing"

	"github.com/distpac/distpac/internal/paths"
)

// Taking the run lock removes a dead server's server.json (a kill -9
// leaves it), so nothing reads its pid or addresses while this server
// starts; a second server is refused and removes nothing.
func TestLockRunRemovesStaleInfo(t *testing.T) {
	p := paths.Home{Root: t.TempDir()}.Server()
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.PIDFile(), []byte(`{"pid": 4194000}`), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := lockRun(p)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if _, err := os.Stat(p.PIDFile()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dead server's %s kept: %v", p.PIDFile(), err)
	}
	// The running server's own file stays when a second one is refused.
	if err := os.WriteFile(p.PIDFile(), []byte(`{"pid": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := lockRun(p); !errors.Is(err, ErrRunning) {
		t.Fatalf("second lockRun = %v, want ErrRunning", err)
	}
	if _, err := os.Stat(p.PIDFile()); err != nil {
		t.Errorf("the running server's %s removed by a refused start: %v", p.PIDFile(), err)
	}
}

package catalogclient_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/distpac/distpac/internal/catalogclient"
)

// A sync whose context ends (Ctrl-C, a mirror's SIGTERM) is stopping, not
// looking at a damaged catalog: it logged "current catalog is unusable;
// syncing a fresh one ... context canceled" at every mirror's stop, and
// went on as if no catalog were held.
func TestSyncCancelledSaysNothingAlarming(t *testing.T) {
	key := newKey(t)
	pub := newPublisher(t, key, nil)
	pub.publish(5, buildCatalog(t, 5, "", "foo"))
	dir := t.TempDir()
	mustSync(t, syncOpts(pub.ts.URL, dir, key.Public()))

	var logs bytes.Buffer
	opts := syncOpts(pub.ts.URL, dir, key.Public())
	opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := catalogclient.Sync(ctx, opts)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Sync with its context cancelled = %v, want context.Canceled", err)
	}
	if bytes.Contains(logs.Bytes(), []byte("unusable")) || bytes.Contains(logs.Bytes(), []byte("level=WARN")) {
		t.Errorf("a cancelled sync logged a warning:\n%s", logs.Bytes())
	}
	// The catalog held is still the one served next time.
	if res := mustSync(t, syncOpts(pub.ts.URL, dir, key.Public())); res.Serial != 5 || res.Updated {
		t.Errorf("after the cancelled sync: serial %d, updated %v; want 5, not updated", res.Serial, res.Updated)
	}
}

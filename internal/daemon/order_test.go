package daemon

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
)

// TestDaemonOrdersServersPerRequest: a daemon started with server_urls A,
// B, none failed, and then a sync finding A down (servers.json): the next
// install through it fetches from B's web seed first. The daemon took the
// order once, at its start, and went to A first until restarted (an
// install's first byte waited on a server the sync had found down).
func TestDaemonOrdersServersPerRequest(t *testing.T) {
	data := bytes.Repeat([]byte("distpac foo"), 8<<10) // writeCatalog's foo
	var mu sync.Mutex
	var hits []string
	mirror := func(name string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits = append(hits, name)
			mu.Unlock()
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	a, b := mirror("A"), mirror("B")

	cp := paths.Client{Dir: t.TempDir()}
	row := writeCatalog(t, cp.Dir, "http://127.0.0.1:1/announce") // no tracker, no peer: the web seeds serve
	cfg := &config.Client{ServerURLs: []string{a, b}, PeerAddr: "127.0.0.1:0", Seed: config.SeedNone}
	cfg.ApplyDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(runCtx, Options{Paths: cp, Config: cfg}) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var c *Client
	for c == nil {
		if c = Dial(ctx, cp.DaemonSocket()); c == nil && ctx.Err() != nil {
			t.Fatal("the daemon never answered")
		}
		time.Sleep(20 * time.Millisecond)
	}

	failed := fmt.Sprintf(`{"failed": {%q: %q}}`, a, time.Now().Add(-time.Minute).Format(time.RFC3339Nano))
	if err := os.WriteFile(filepath.Join(cp.Dir, "servers.json"), []byte(failed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Download(ctx, Request{Items: []Item{{Name: row.Name, Version: row.Version}}}, 0, nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hits) == 0 || hits[0] != "B" {
		t.Fatalf("web seeds asked %q, want B first: A failed the last sync", hits)
	}
}

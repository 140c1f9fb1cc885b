package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/swarm"
)

func TestRequested(t *testing.T) {
	var q requested
	if got := q.held(time.Now()); len(got) != 0 {
		t.Fatalf("held before any request: %v", got)
	}
	r1 := q.hold([]string{"a.tar.zst", "b.tar.zst"})
	r2 := q.hold([]string{"a.tar.zst"})
	r1()
	r1() // a second release changes nothing
	tests := []struct {
		name string
		at   time.Time
		want map[string]bool
	}{
		{"a in flight in another request, b's request just ended", time.Now(), map[string]bool{"a.tar.zst": true, "b.tar.zst": true}},
		{"b's request ended longer ago than the grace", time.Now().Add(requestGrace + time.Second), map[string]bool{"a.tar.zst": true}},
		{"b forgotten after the grace", time.Now(), map[string]bool{"a.tar.zst": true}},
	}
	for _, tt := range tests {
		if got := q.held(tt.at); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: held = %v, want %v", tt.name, got, tt.want)
		}
	}
	r2()
	if got := q.held(time.Now()); !got["a.tar.zst"] {
		t.Errorf("an archive whose last request just ended is not held: %v", got)
	}
	if len(q.busy) != 0 {
		t.Errorf("requests in flight after every release: %v", q.busy)
	}
	var none *requested
	if got := none.held(time.Now()); got != nil {
		t.Errorf("a nil set holds %v", got)
	}
}

// A trim after one request leaves alone an archive another request has
// just downloaded, and removes the others as before.
func TestTrimKeepsRequested(t *testing.T) {
	cp := paths.Client{Dir: t.TempDir()}
	if err := os.MkdirAll(cp.Cache(), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"old-1.0.0.tar.zst", "other-1.0.0.tar.zst", "just-1.0.0.tar.zst"} {
		if err := os.WriteFile(filepath.Join(cp.Cache(), name), make([]byte, 64<<10), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	engine, err := swarm.New(swarm.Config{Dir: cp.Cache(), ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	var req requested
	release := req.hold([]string{"other-1.0.0.tar.zst"}) // another install's request, still running
	defer release()
	trimCache(engine, cp, []Report{{Archive: "just-1.0.0.tar.zst"}}, &req, 1, slog.New(slog.DiscardHandler))
	for name, want := range map[string]bool{"old-1.0.0.tar.zst": false, "other-1.0.0.tar.zst": true, "just-1.0.0.tar.zst": true} {
		_, err := os.Stat(filepath.Join(cp.Cache(), name))
		if got := err == nil; got != want {
			t.Errorf("%s kept: %v, want %v", name, got, want)
		}
	}
}

// A request's Keep packages (taken from the cache by the same install) are
// held out of a trim while the request runs, as its downloads are: a trim
// after another install removed one before this install extracted it,
// which then downloaded it again. Keep names are looked up in the catalog;
// one it lacks is skipped, not a reason to refuse the download.
func TestRequestKeepIsHeld(t *testing.T) {
	dir := t.TempDir()
	tracker, _ := nettest.Hanging(t) // a tracker that never answers, no peer: foo's download waits (a refused one gives up in about 2 s)
	writeCatalog(t, dir, "http://"+tracker+"/announce", "bar")
	c, h, _ := servedHandler(t, dir)

	dl, stop := context.WithCancel(context.Background())
	defer stop()
	started := make(chan struct{})
	var once sync.Once
	go c.Download(dl, Request{Items: []Item{{Name: "foo", Version: "1.0.0"}}, Keep: []Item{{Name: "nosuch", Version: "1.0.0"}, {Name: "bar", Version: "1.0.0"}}}, 50*time.Millisecond,
		func(Event) { once.Do(func() { close(started) }) })
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no progress event in 10 s")
	}
	if held := h.requested.held(time.Now()); !held["foo-1.0.0.tar.zst"] || !held["bar-1.0.0.tar.zst"] {
		t.Fatalf("held during the request: %v; want foo's archive and bar's", held)
	}
}

// A request with nothing to download and packages to keep (an install
// that takes every archive from the cache) holds their archives and ends
// at once, with no download.
func TestRequestOnlyToKeep(t *testing.T) {
	dir := t.TempDir()
	writeCatalog(t, dir, "http://127.0.0.1:1/announce", "bar")
	c, h, engine := servedHandler(t, dir)
	start := time.Now()
	if err := c.Download(context.Background(), Request{Keep: []Item{{Name: "bar", Version: "1.0.0"}}}, 0, nil); err != nil {
		t.Fatalf("a request only to keep: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a request only to keep took %v", d)
	}
	if held := h.requested.held(time.Now()); !held["bar-1.0.0.tar.zst"] {
		t.Fatalf("held after the request: %v; want bar's archive for the grace period", held)
	}
	if n := engine.Stats().Torrents; n != 0 {
		t.Errorf("the engine holds %d torrents after a request to download nothing", n)
	}
}

// servedHandler serves a handler that holds requests' archives, for the
// verified catalog in dir, and dials it.
func servedHandler(t *testing.T, dir string) (*Client, *handler, *swarm.Engine) {
	t.Helper()
	sock, ln, engine := socketAndEngine(t)
	h := &handler{engine: engine, catalogDir: dir, logger: slog.New(slog.DiscardHandler), started: time.Now(), requested: &requested{}}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, h) }()
	t.Cleanup(func() { cancel(); <-served })
	c := Dial(context.Background(), sock)
	if c == nil {
		t.Fatal("no daemon at the socket")
	}
	return c, h, engine
}

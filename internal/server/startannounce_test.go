package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/swarm"
)

// An announce that reaches a starting server's tracker before its first
// reload has said which torrents it serves waits for it and is answered,
// not refused: the tracker listens from the start, and such an announce
// got "torrent is not served by this tracker", after which announcers
// back off 5 s and more (an operator's run, with a restored catalog.db).
func TestAnnounceWhileStarting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, primary, _ := newPrimary(ctx, t, writePackage(t, "alpha", 4<<10))
	db, err := catalog.Open(ctx, primary.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.All(ctx)
	db.Close()
	if err != nil || len(rows) != 1 {
		t.Fatalf("published: %v, %v", rows, err)
	}
	ih, err := swarm.ParseInfoHash(rows[0].InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	firstReloadHook = func() { close(held); <-release }
	defer func() { firstReloadHook = nil }()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Paths: primary, Config: cfg, Logger: testLogger(t, "primary"), PollInterval: 100 * time.Millisecond})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}()
	// Run first (deferred last): a failure before the release must not
	// leave the server held in its first reload while the test waits.
	defer once.Do(func() { close(release) })
	select {
	case <-held:
	case err := <-done:
		t.Fatalf("server: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the server never came to its first reload")
	}
	q := url.Values{"info_hash": {string(ih[:])}, "peer_id": {"-XX0001-abcdefghijkl"}, "port": {"6881"},
		"uploaded": {"0"}, "downloaded": {"0"}, "left": {"4096"}, "compact": {"1"}}
	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/announce?%s", cfg.TrackerAddr, q.Encode()))
		if err != nil {
			answer <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		answer <- string(b)
	}()
	// The announce is in while the first reload is held.
	select {
	case a := <-answer:
		if strings.Contains(a, "failure reason") {
			t.Fatalf("an announce while the server starts was refused: %q", a)
		}
		t.Fatalf("an announce answered before the server knew what it serves: %q", a)
	case <-time.After(300 * time.Millisecond):
	}
	once.Do(func() { close(release) })
	select {
	case a := <-answer:
		if strings.Contains(a, "failure reason") || !strings.Contains(a, "interval") {
			t.Errorf("the announce, once the server knows what it serves: %q; want an answer with an interval, no failure", a)
		}
	case <-time.After(servedWait + 5*time.Second):
		t.Fatal("the announce was never answered")
	}
}

package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/trackerclient"
)

// heldStart is a server held just before its first reload
// (firstReloadHook), its tracker already listening.
type heldStart struct {
	t       *testing.T
	tracker string   // host:port
	ih      [20]byte // the one package published
	release func()   // lets the first reload go on
}

// startHeld publishes one package and starts its server, held before its
// first reload until release or the test's end.
func startHeld(t *testing.T) heldStart {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
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
	held, hold := make(chan struct{}), make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }
	firstReloadHook = func() { close(held); <-hold }
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Paths: primary, Config: cfg, Logger: testLogger(t, "primary"), PollInterval: 100 * time.Millisecond})
	}()
	t.Cleanup(func() {
		// The release first: a failure before it must not leave the
		// server held in its first reload while the test waits.
		release()
		cancel()
		// A start cancelled in its first reload (a test that failed
		// while holding it) ends with the context's error.
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("server: %v", err)
		}
		firstReloadHook = nil
	})
	select {
	case <-held:
	case err := <-done:
		t.Fatalf("server: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the server never came to its first reload")
	}
	return heldStart{t: t, tracker: cfg.TrackerAddr, ih: ih, release: release}
}

// announce sends an announce for ih in the background; its reply (or
// the error) comes on the channel.
func (h heldStart) announce(ih [20]byte) <-chan string {
	q := url.Values{"info_hash": {string(ih[:])}, "peer_id": {"-XX0001-abcdefghijkl"}, "port": {"6881"},
		"uploaded": {"0"}, "downloaded": {"0"}, "left": {"4096"}, "compact": {"1"}}
	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/announce?%s", h.tracker, q.Encode()))
		if err != nil {
			answer <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		answer <- string(b)
	}()
	return answer
}

// reply waits for an announce's reply for at most d.
func (h heldStart) reply(answer <-chan string, d time.Duration) string {
	h.t.Helper()
	select {
	case a := <-answer:
		return a
	case <-time.After(d):
		h.t.Fatalf("the announce was not answered within %v", d)
	}
	return ""
}

// An announce that reaches a starting server's tracker before its first
// reload has said which torrents it serves waits for it and is answered,
// not refused: the tracker listens from the start, and such an announce
// got "torrent is not served by this tracker", after which announcers
// back off 5 s and more (an operator's run, with a restored catalog.db).
func TestAnnounceWhileStarting(t *testing.T) {
	h := startHeld(t)
	answer := h.announce(h.ih)
	// The announce is in while the first reload is held.
	select {
	case a := <-answer:
		if strings.Contains(a, "failure reason") {
			t.Fatalf("an announce while the server starts was refused: %q", a)
		}
		t.Fatalf("an announce answered before the server knew what it serves: %q", a)
	case <-time.After(300 * time.Millisecond):
	}
	h.release()
	a := h.reply(answer, servedWait+5*time.Second)
	if strings.Contains(a, "failure reason") || !strings.Contains(a, "interval") {
		t.Errorf("the announce, once the server knows what it serves: %q; want an answer with an interval, no failure", a)
	}
}

// A first reload longer than an announce waits for it (a large restored
// catalog checked in full) answered the announce with a failure reason,
// after which clients back off for minutes. It is answered as a tracker
// answers a swarm it has no peers for yet, with a short interval, and
// within the 5 s distpac's own announcer waits for a reply (trackerclient:
// it gave up on the 10 s wait, a failed announce too). Once the server
// knows what it serves, a torrent it does not serve is refused.
func TestAnnounceWhileStartingLong(t *testing.T) {
	h := startHeld(t)
	start := time.Now()
	a := h.reply(h.announce(h.ih), servedWait+5*time.Second)
	took := time.Since(start)
	var got map[string]any
	if err := bencode.Unmarshal([]byte(a), &got); err != nil {
		t.Fatalf("reply %q: %v", a, err)
	}
	if _, ok := got["failure reason"]; ok || took >= 5*time.Second {
		t.Fatalf("an announce while the first reload runs long: %q after %v; want an answer, no failure reason, within 5 s", a, took.Round(time.Millisecond))
	}
	// A short interval, which the announcer may not cut (BEP 3's
	// interval, and the "min interval" trackers add to it).
	res, err := trackerclient.ParseAnnounce([]byte(a))
	iv, _ := got["interval"].(int64)
	if err != nil || len(res.Peers) != 0 || iv < 1 || iv > 10 || got["min interval"] != iv {
		t.Errorf("the answer while starting: %q (%v); want no peers, interval and min interval at most 10 s", a, err)
	}

	h.release()
	var other [20]byte
	copy(other[:], "not a package here..")
	waitFor(t, "the server to know what it serves", func() bool {
		return strings.Contains(h.reply(h.announce(other), 5*time.Second), trackerclient.ReasonNotServed)
	})
	if a := h.reply(h.announce(h.ih), 5*time.Second); strings.Contains(a, "failure reason") || !strings.Contains(a, "8:intervali30e") {
		t.Errorf("the package's announce once started: %q; want the tracker's interval, no failure", a)
	}
}

// A scrape that reaches a starting server's tracker while its first
// reload runs long is answered after one wait, not one for each of its
// info_hashes (2 s each: a scrape of MaxScrapeHashes took minutes).
func TestScrapeWhileStartingLong(t *testing.T) {
	h := startHeld(t)
	q := url.Values{}
	for i := range 10 {
		var ih [20]byte
		copy(ih[:], fmt.Sprintf("not a package %6d", i))
		q.Add("info_hash", string(ih[:]))
	}
	q.Add("info_hash", string(h.ih[:]))
	start := time.Now()
	resp, err := http.Get(fmt.Sprintf("http://%s/scrape?%s", h.tracker, q.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if took := time.Since(start); resp.StatusCode != http.StatusOK || took > servedWait+2*time.Second {
		t.Errorf("a scrape of 11 info_hashes while the first reload runs long: %s after %v; want an answer within one wait (%v)", resp.Status, took.Round(time.Millisecond), servedWait)
	}
}

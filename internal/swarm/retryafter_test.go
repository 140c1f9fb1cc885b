package swarm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/torrentmeta"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		h    string
		want time.Duration
	}{
		{"", 0},
		{"10", 10 * time.Second},
		{" 10 ", 10 * time.Second},
		{"0", 0},
		{"60", time.Minute},
		{"3600", maxRetryAfter}, // bounded
		{now.Add(20 * time.Second).Format(http.TimeFormat), 20 * time.Second},
		{now.Add(time.Hour).Format(http.TimeFormat), maxRetryAfter},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0}, // past
		// Neither delay-seconds nor an HTTP-date: ignored.
		{"soon", 0},
		{"-5", 0},
		{"1.5", 0},
		{"0x10", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.h, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.h, got, tt.want)
		}
	}
}

// A web seed that answers 503 with Retry-After (dist-server's catalog
// listener with every descriptor in use answers Retry-After: 10) is asked
// again once that passed, not before, and the download waits for it
// rather than giving up; meanwhile another seed that works is asked. A
// plain 503 was all the client saw: it asked the seed again at its next
// round (WebSeedAfter), and gave up after GiveUpAfter with no other
// source. A Retry-After that is no number or date is ignored.
func TestWebSeedRetryAfter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pkg-1.0.0.tar.zst")
	writeRandom(t, path, 100<<10)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// busy answers 503 with retryAfter to its first busyFor requests,
	// then serves the archive; it records when each request came.
	type busy struct {
		srv   *httptest.Server
		mu    sync.Mutex
		times []time.Time
	}
	newBusy := func(retryAfter string, busyFor int) *busy {
		b := &busy{}
		b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.mu.Lock()
			b.times = append(b.times, time.Now())
			n := len(b.times)
			b.mu.Unlock()
			if n <= busyFor {
				w.Header().Set("Retry-After", retryAfter)
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			http.ServeContent(w, r, filepath.Base(path), time.Time{}, bytes.NewReader(data))
		}))
		t.Cleanup(b.srv.Close)
		return b
	}
	var sent atomic.Int64
	good := webSeedServer(t, path, false, false, &sent)
	tests := []struct {
		name       string
		retryAfter string
		busyFor    int
		withGood   bool
		// minGap, maxGap bound the time between the busy seed's first
		// and second request (none when it was asked once).
		minGap, maxGap time.Duration
		asked          int // requests the busy seed got
	}{
		{name: "retry after 2 s", retryAfter: "2", busyFor: 1, minGap: 1900 * time.Millisecond, maxGap: 5 * time.Second, asked: 2},
		{name: "a bad value", retryAfter: "soon", busyFor: 1, maxGap: 1500 * time.Millisecond, asked: 2},
		{name: "another seed meanwhile", retryAfter: "30", busyFor: 100, withGood: true, asked: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBusy(tt.retryAfter, tt.busyFor)
			meta, err := torrentmeta.Build(path, "", b.srv.URL+"/packages/")
			if err != nil {
				t.Fatal(err)
			}
			torrentBytes := meta.Torrent
			if tt.withGood {
				torrentBytes = withURLList(t, torrentBytes, []string{b.srv.URL + "/packages/", good.URL + "/packages/"})
			}
			// GiveUpAfter under the wait: a seed that said when to come
			// back is a source meanwhile.
			leecher, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true,
				WebSeedAfter: 100 * time.Millisecond, GiveUpAfter: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer leecher.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			if err := leecher.Download(ctx, torrentBytes, nil, nil); err != nil {
				t.Fatalf("download after %v: %v", time.Since(start).Round(time.Millisecond), err)
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if len(b.times) != tt.asked {
				t.Fatalf("the busy seed was asked %d times, want %d", len(b.times), tt.asked)
			}
			if tt.asked < 2 {
				if took := time.Since(start); took > 10*time.Second {
					t.Errorf("took %v: the working seed waited for the busy one", took)
				}
				return
			}
			if gap := b.times[1].Sub(b.times[0]); gap < tt.minGap || gap > tt.maxGap {
				t.Errorf("asked again %v after its 503 (Retry-After: %s), want %v to %v", gap.Round(time.Millisecond), tt.retryAfter, tt.minGap, tt.maxGap)
			}
		})
	}
}

// A web seed that answers busy to every request, with no other source,
// is waited for BusyWait and then given up on, with an error that names
// it, its answer and that it is busy; meanwhile the progress says which
// seed the download waits for. Before, a seed that said when to come
// back counted as a source for good: the download waited, silent, until
// the caller's stall timeout (dist-client: two minutes, then "no data
// received for 2m0s from any peer or web seed").
func TestWebSeedAlwaysBusy(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	path := filepath.Join(t.TempDir(), "pkg-1.0.0.tar.zst")
	writeRandom(t, path, 100<<10)
	for _, code := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			var asked atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				asked.Add(1)
				w.Header().Set("Retry-After", "1")
				http.Error(w, "busy", code)
			}))
			defer srv.Close()
			seed := srv.URL + "/packages/"
			meta, err := torrentmeta.Build(path, "", seed)
			if err != nil {
				t.Fatal(err)
			}
			const busyWait, giveUp = 3 * time.Second, time.Second
			leecher, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true,
				WebSeedAfter: 100 * time.Millisecond, GiveUpAfter: giveUp, BusyWait: busyWait})
			if err != nil {
				t.Fatal(err)
			}
			defer leecher.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var mu sync.Mutex
			var seen []BusySeed
			start := time.Now()
			err = leecher.Download(ctx, meta.Torrent, nil, func(p Progress) {
				mu.Lock()
				defer mu.Unlock()
				if p.Busy != nil && (len(seen) == 0 || seen[len(seen)-1] != *p.Busy) {
					seen = append(seen, *p.Busy)
				}
			})
			took := time.Since(start)
			var ns *NoSourceError
			if !errors.As(err, &ns) {
				t.Fatalf("after %v: %v, want a NoSourceError", took.Round(time.Millisecond), err)
			}
			if took < busyWait || took > busyWait+giveUp+3*time.Second {
				t.Errorf("gave up after %v, want %v to %v", took.Round(time.Millisecond), busyWait, busyWait+giveUp+3*time.Second)
			}
			// The time it says it had no source covers the busy wait it
			// names: before, only the give-up time after it ("no source
			// for X in 1s ... answered only 503 for 3s").
			if ns.Idle < busyWait || ns.Idle > took {
				t.Errorf("no source for %v, want from %v (the busy wait) to %v (the run)", ns.Idle, busyWait, took)
			}
			want := fmt.Sprintf("(%s answered only %d %s for 3s, and no peer sent anything: the server is busy; try again later)", seed, code, http.StatusText(code))
			if msg := err.Error(); !strings.Contains(msg, want) || !strings.Contains(msg, fmt.Sprintf("web seed %spkg-1.0.0.tar.zst: HTTP %d", seed, code)) {
				t.Errorf("error:\n%s\nwant it to name the seed's answer and end with\n%s", msg, want)
			}
			// Asked again after each Retry-After, not at every tick.
			if n := asked.Load(); n < 2 || n > 6 {
				t.Errorf("the seed was asked %d times in %v (Retry-After: 1)", n, took.Round(time.Millisecond))
			}
			mu.Lock()
			defer mu.Unlock()
			wantSeen := BusySeed{Seed: seed, Said: fmt.Sprintf("HTTP %d %s (busy: asked to retry after 1s)", code, http.StatusText(code)), For: busyWait}
			if len(seen) != 1 || seen[0] != wantSeen {
				t.Errorf("the progress said it waited for %+v, want %+v alone", seen, wantSeen)
			}
		})
	}
}

// A web seed that answers busy while a peer sends is not said to be
// waited for (Progress.Busy): the client would warn "no peer sends the
// archive, so distpac waits for that server". Before, a peer sending at
// 64 KiB/s, slowly enough that the seed was asked, had the progress name
// the busy seed at 24 of 29 ticks, from the first 192 KiB on.
func TestBusySeedNotSaidWhilePeerSends(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	srcDir := t.TempDir()
	path := filepath.Join(srcDir, "pkg-1.0.0.tar.zst")
	writeRandom(t, path, 1<<20)
	meta, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	seeder, err := New(Config{Dir: srcDir, ListenAddr: "127.0.0.1:0", DisableTrackers: true, UploadRate: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	if _, err := seeder.Seed(context.Background(), meta.Torrent, true); err != nil {
		t.Fatal(err)
	}
	leecher, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true,
		WebSeedAfter: 100 * time.Millisecond, MirrorWebSeeds: []string{MirrorSeed(srv.URL)}})
	if err != nil {
		t.Fatal(err)
	}
	defer leecher.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var busy, ticks int
	var done int64
	err = leecher.Download(ctx, meta.Torrent, []netip.AddrPort{seeder.Addr()}, func(p Progress) {
		ticks++
		done = p.Done
		if p.Busy != nil {
			busy++
		}
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("download from a seeder at 64 KiB/s: %v; want it still running at the deadline", err)
	}
	if asked.Load() == 0 || done == 0 {
		t.Fatalf("the busy seed was asked %d times, %d bytes came from the peer: want both", asked.Load(), done)
	}
	if busy > 0 {
		t.Errorf("the progress named the busy seed at %d of %d ticks while the peer sent %d bytes", busy, ticks, done)
	}
}

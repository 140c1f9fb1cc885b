package catalogclient_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/signing"
)

// A list of servers fails over: a refused port at once, a server that
// accepts and never answers after a short timeout, a mirror that serves a
// catalog the pinned key did not sign, an older one or a half-sent one at
// once; the first server that gives a valid catalog wins, and the result
// names every server tried and what it did.
func TestSyncFailsOver(t *testing.T) {
	t.Parallel()
	key, other := newKey(t), newKey(t)
	db := buildCatalog(t, 4, "", "foo", "bar")
	good := newPublisher(t, key, nil)
	good.publish(4, db)
	forged := newPublisher(t, other, nil)
	forged.publish(9, buildCatalog(t, 9, "evil", "foo"))
	older := newPublisher(t, key, nil)
	older.publish(2, buildCatalog(t, 2, "", "foo"))
	stalled := newPublisher(t, key, func(_ *publisher, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == catalogclient.PathCatalog { // half the catalog, then silence
				w.Header().Set("Content-Length", "100000")
				w.Write(append([]byte("SQLite format 3\x00"), make([]byte, 84)...)) // a catalog's start
				w.(http.Flusher).Flush()
				<-r.Context().Done()
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	hangAddr, _ := nettest.Hanging(t)
	refused, hanging := "http://"+nettest.Refused(t), "http://"+hangAddr

	dir := t.TempDir()
	// The client holds serial 3 already, so serial 2 is a rollback.
	seed := newPublisher(t, key, nil)
	seed.publish(3, buildCatalog(t, 3, "", "foo"))
	mustSync(t, syncOpts(seed.ts.URL, dir, key.Public()))

	servers := []string{refused, hanging, forged.ts.URL, older.ts.URL, stalled.ts.URL, good.ts.URL}
	opts := syncOpts("", dir, key.Public())
	opts.ServerURLs = servers
	start := time.Now()
	res := mustSync(t, opts)
	took := time.Since(start)
	t.Logf("failed over past %d servers in %v", len(res.Failed), took.Round(time.Millisecond))
	for _, f := range res.Failed {
		t.Logf("  %v", f)
	}
	if res.Server != good.ts.URL || res.Serial != 4 || !res.Updated {
		t.Fatalf("sync = server %s serial %d updated %v, want serial 4 from %s", res.Server, res.Serial, res.Updated, good.ts.URL)
	}
	want := []struct {
		url  string
		says string
		is   error
	}{
		{refused, "connection refused", nil},
		{hanging, "no answer within 5s", nil},
		{forged.ts.URL, "bad catalog signature", catalogclient.ErrBadSignature},
		{stalled.ts.URL, "the server sent nothing for 10s", nil},
	}
	// A server behind the catalog held is not a failure: it lags.
	if len(res.Behind) != 1 || res.Behind[0].URL != older.ts.URL || res.Behind[0].Serial != 2 || !errors.Is(res.Behind[0].Err, catalogclient.ErrRollback) {
		t.Errorf("behind = %+v; want %s at serial 2", res.Behind, older.ts.URL)
	}
	if len(res.Failed) != len(want) {
		t.Fatalf("failed = %v, want %d servers", res.Failed, len(want))
	}
	for i, w := range want {
		f := res.Failed[i]
		if f.URL != w.url || !strings.Contains(f.Error(), w.url+" (after ") || !strings.Contains(f.Error(), w.says) || (w.is != nil && !errors.Is(f, w.is)) {
			t.Errorf("server %d: %v; want %s saying %q", i+1, f, w.url, w.says)
		}
	}
	if d := res.Failed[0].Took; d > time.Second {
		t.Errorf("a refused connection took %v", d)
	}
	if d := res.Failed[1].Took; d < 4*time.Second || d > 8*time.Second {
		t.Errorf("a server that never answers took %v, want the 5 s reply timeout", d)
	}

	// Every server failing: one error naming each, matching each cause.
	opts.ServerURLs = []string{refused, forged.ts.URL}
	_, err := catalogclient.Sync(context.Background(), opts)
	var se catalogclient.ServersError
	if !errors.As(err, &se) || len(se) != 2 || !errors.Is(err, catalogclient.ErrBadSignature) ||
		!strings.HasPrefix(err.Error(), "sync: none of the 2 servers gave a usable catalog:\n  "+refused+" (after ") ||
		!strings.Contains(err.Error(), "\n  "+forged.ts.URL+" (after ") {
		t.Fatalf("all failing: %v", err)
	}
	if s, _ := heldSerial(t, dir); s != 4 {
		t.Fatalf("held serial %d after failed syncs, want 4", s)
	}
}

// trickle serves the catalog's path as a 256 MiB body (or one of no
// length) at 6 KB/s, above the idle and minimum-rate limits, for d, then
// ends it; calls counts the requests for it.
func trickle(t *testing.T, key *signing.Key, length int64, d time.Duration, calls *atomic.Int32) *publisher {
	return newPublisher(t, key, func(_ *publisher, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != catalogclient.PathCatalog || calls.Add(1) > 1 && d == 0 {
				h.ServeHTTP(w, r)
				return
			}
			if length > 0 {
				w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
			}
			w.Header().Set("Content-Type", catalogclient.ContentTypeCatalog)
			end := time.Now().Add(cmp.Or(d, 20*time.Second))
			chunk := append([]byte("SQLite format 3\x00"), make([]byte, 584)...) // a catalog's start, then more
			for time.Now().Before(end) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	})
}

// A server whose catalog would take long (a large Content-Length, or none
// and a trickle) is set aside for the next of server_urls after hurryAfter,
// and waited for only when no other server gives a catalog; of several set
// aside, the last is waited for.
func TestSyncPassesOverSlowServer(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	good := newPublisher(t, key, nil)
	good.publish(4, buildCatalog(t, 4, "", "foo", "bar"))
	refused := "http://" + nettest.Refused(t)
	for _, length := range []int64{0, 1 << 20} {
		t.Run(fmt.Sprintf("content-length %d", length), func(t *testing.T) {
			t.Parallel()
			// Slow on its first request only (d 0), served at once after.
			var calls atomic.Int32
			slow := trickle(t, key, length, 0, &calls)
			slow.publish(4, buildCatalog(t, 4, "", "foo", "bar"))
			opts := syncOpts("", t.TempDir(), key.Public())
			opts.ServerURLs = []string{slow.ts.URL, good.ts.URL}
			res := mustSync(t, opts)
			if res.Server != good.ts.URL || len(res.Failed) != 1 {
				t.Fatalf("sync from %s after %v, want %s after the slow server", res.Server, res.Failed, good.ts.URL)
			}
			f := res.Failed[0]
			t.Logf("set aside: %v", f)
			if f.URL != slow.ts.URL || !strings.Contains(f.Error(), "too slow while another server is left to try") || f.Took > 10*time.Second {
				t.Fatalf("slow server: %v, want given up as too slow within 10 s", f)
			}
			// Alone with servers that fail, the slow server is waited for.
			calls.Store(0)
			opts = syncOpts("", t.TempDir(), key.Public())
			opts.ServerURLs = []string{slow.ts.URL, refused}
			res = mustSync(t, opts)
			if res.Server != slow.ts.URL || len(res.Failed) != 2 || res.Failed[0].URL != slow.ts.URL || res.Failed[1].URL != refused {
				t.Fatalf("sync from %s after %v, want the slow server after it was set aside and the other refused", res.Server, res.Failed)
			}
		})
	}
	t.Run("two slow", func(t *testing.T) {
		t.Parallel()
		// Both trickle for 8 s on every request, then end the body short.
		var callsA, callsB atomic.Int32
		a, b := trickle(t, key, 1<<20, 8*time.Second, &callsA), trickle(t, key, 1<<20, 8*time.Second, &callsB)
		opts := syncOpts("", t.TempDir(), key.Public())
		opts.ServerURLs = []string{a.ts.URL, b.ts.URL, refused}
		_, err := catalogclient.Sync(context.Background(), opts)
		var se catalogclient.ServersError
		if !errors.As(err, &se) || len(se) != 6 {
			t.Fatalf("Sync = %v, want six tries", err)
		}
		// a, b set aside, refused; a set aside again; b waited for to the
		// end; then a, the last left, waited for too.
		for _, i := range []int{4, 5} {
			if last, want := se[i], []string{b.ts.URL, a.ts.URL}[i-4]; last.URL != want || strings.Contains(last.Error(), "too slow") || !errors.Is(last, catalogclient.ErrTruncated) {
				t.Fatalf("try %d: %v, want %s waited for until its body ended short", i+1, last, want)
			}
		}
	})
}

// The last server to try is waited for only while its catalog is on
// course to arrive within catalogTimeLimit: one that claimed 50 MiB and
// sent 5 KB/s held a sync, and the lock every install waits for, for
// hours (an attacker's run).
func TestSyncGivesUpOnEndlessCatalog(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	var calls atomic.Int32
	slow := trickle(t, key, 256<<20, 0, &calls) // 6 KB/s: 12 hours
	start := time.Now()
	_, err := catalogclient.Sync(context.Background(), syncOpts(slow.ts.URL, t.TempDir(), key.Public()))
	if err == nil || !strings.Contains(err.Error(), "a catalog may take") || time.Since(start) > 15*time.Second {
		t.Fatalf("Sync = %v after %s, want given up as on course for hours within 15 s", err, time.Since(start).Round(time.Millisecond))
	}
}

// With KeepRotation (dist-server mirror) the server's rotation statements
// are kept with the catalog, byte for byte, and read back with it; a chain
// that does not end at the catalog's signer is refused.
func TestSyncKeepsRotation(t *testing.T) {
	a, b := newKey(t), newKey(t)
	chain := signing.MarshalRotations([]signing.Rotation{signing.NewRotation(a, b.Public(), 5, time.Now())})
	pub := newPublisher(t, b, nil)
	pub.srv.SetRotation(chain)
	db := buildCatalog(t, 5, "", "foo")
	pub.publish(5, db)

	dir := t.TempDir()
	opts := syncOpts(pub.ts.URL, dir, a.Public())
	opts.KeepRotation = true
	res := mustSync(t, opts)
	if len(res.Rotated) != 1 {
		t.Fatalf("sync = %+v, want the rotation followed", res)
	}
	h, err := catalogclient.ReadHeld(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.DB, db) || !bytes.Equal(h.Sig, b.Sign(db)) || !bytes.Equal(h.Rotation, chain) || h.Meta.Serial != 5 || len(h.Packages) != 1 {
		t.Fatalf("held: db %v sig %v rotation %v serial %d packages %d; want the served bytes", bytes.Equal(h.DB, db), bytes.Equal(h.Sig, b.Sign(db)), bytes.Equal(h.Rotation, chain), h.Meta.Serial, len(h.Packages))
	}

	// Without a rotation file: none kept.
	plain := newPublisher(t, a, nil)
	plain.publish(2, buildCatalog(t, 2, "", "bar"))
	dir2 := t.TempDir()
	opts = syncOpts(plain.ts.URL, dir2, a.Public())
	opts.KeepRotation = true
	mustSync(t, opts)
	if h, err := catalogclient.ReadHeld(context.Background(), dir2); err != nil || h.Rotation != nil {
		t.Fatalf("held rotation %q, %v; want none", h.Rotation, err)
	}

	// A chain that neither ends at the catalog's signer nor hands over from
	// it (a rotation between the two requests, or a lost key's statements).
	c, d := newKey(t), newKey(t)
	odd := newPublisher(t, a, nil)
	odd.srv.SetRotation(signing.MarshalRotations([]signing.Rotation{signing.NewRotation(c, d.Public(), 5, time.Now())}))
	odd.publish(3, buildCatalog(t, 3, "", "bar"))
	opts = syncOpts(odd.ts.URL, dir2, a.Public())
	opts.KeepRotation = true
	if _, err := catalogclient.Sync(context.Background(), opts); !errors.Is(err, catalogclient.ErrChanged) {
		t.Fatalf("chain ending elsewhere: %v, want ErrChanged", err)
	}
	if s, _ := heldSerial(t, dir2); s != 2 {
		t.Fatalf("held serial %d, want 2 kept", s)
	}

	// One that hands over from the signer: a rotation the publisher began
	// and has not committed (it signs with a until then). Kept, as served.
	pending := signing.MarshalRotations([]signing.Rotation{signing.NewRotation(a, c.Public(), 5, time.Now())})
	odd.srv.SetRotation(pending)
	odd.publish(4, buildCatalog(t, 4, "", "bar"))
	mustSync(t, opts)
	if h, err := catalogclient.ReadHeld(context.Background(), dir2); err != nil || !bytes.Equal(h.Rotation, pending) || h.Meta.Serial != 4 {
		t.Fatalf("held rotation %q (serial %d), %v; want the pending rotation's statement at serial 4", h.Rotation, h.Meta.Serial, err)
	}
	if _, err := catalogclient.ReadHeld(context.Background(), t.TempDir()); !errors.Is(err, catalogclient.ErrNoCatalog) {
		t.Fatalf("ReadHeld of an empty directory: %v", err)
	}
}

// A key set elsewhere than client.yaml (dist-server mirror's --key) is
// named in the hint of a signature that does not match it.
func TestKeySourceHint(t *testing.T) {
	t.Parallel()
	key, other := newKey(t), newKey(t)
	srv := newPublisher(t, other, nil)
	srv.publish(1, buildCatalog(t, 1, "", "foo"))
	opts := syncOpts(srv.ts.URL, t.TempDir(), key.Public())
	opts.KeySource = "the mirror's --key"
	_, err := catalogclient.Sync(context.Background(), opts)
	if !errors.Is(err, catalogclient.ErrBadSignature) || !strings.HasSuffix(err.Error(), "if the server's key really changed, update the mirror's --key") {
		t.Fatalf("Sync = %v, want a bad signature naming the mirror's --key", err)
	}
	// Without a key given, the one pinned on first use: the same setting is
	// named, not dist-client trust set.
	first := newPublisher(t, key, nil)
	first.publish(1, buildCatalog(t, 1, "", "foo"))
	dir := t.TempDir()
	opts = syncOpts(first.ts.URL, dir, nil)
	opts.KeySource = "the mirror's --key"
	mustSync(t, opts)
	opts.ServerURL = srv.ts.URL
	_, err = catalogclient.Sync(context.Background(), opts)
	if !errors.Is(err, catalogclient.ErrBadSignature) || !strings.HasSuffix(err.Error(), "its operator confirms the new one, give it with the mirror's --key") {
		t.Fatalf("Sync = %v, want a bad signature naming the mirror's --key", err)
	}
}

// A server that failed is tried after the others for a while: with one
// that never answers first in server_urls, every sync waited its 5 s again
// (a newcomer's run). The next sync goes to the one that answered first;
// the failed one is still tried, last, and forgotten once it answers.
func TestSyncTriesAFailedServerLast(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	good := newPublisher(t, key, nil)
	good.publish(1, buildCatalog(t, 1, "", "foo"))
	hangAddr, _ := nettest.Hanging(t)
	hanging := "http://" + hangAddr
	dir := t.TempDir()
	opts := syncOpts("", dir, key.Public())
	opts.ServerURLs = []string{hanging, good.ts.URL}

	res := mustSync(t, opts)
	if len(res.Failed) != 1 || res.Failed[0].URL != hanging {
		t.Fatalf("first sync: failed %v", res.Failed)
	}
	start := time.Now()
	res = mustSync(t, opts)
	if took := time.Since(start); len(res.Failed) != 0 || res.Server != good.ts.URL || took > 2*time.Second {
		t.Fatalf("second sync: from %s after %v, failed %v; want %s first", res.Server, took.Round(time.Millisecond), res.Failed, good.ts.URL)
	}
	// The one passed over is named, with when it is tried first again, so
	// that a client does not take the second server's catalog for the
	// newest without a word (a newcomer's run).
	if d := res.Demoted; len(d) != 1 || d[0].URL != hanging || d[0].Until.Sub(d[0].Failed) != 10*time.Minute || time.Since(d[0].Failed) > time.Minute {
		t.Errorf("second sync: passed over %+v, want %s, failed just now, tried first again in 10 minutes", d, hanging)
	}

	// The good one down too: the hanging one is still tried (last).
	good.ts.Close()
	_, err := catalogclient.Sync(context.Background(), opts)
	var se catalogclient.ServersError
	if !errors.As(err, &se) || len(se) != 2 || se[0].URL != good.ts.URL || se[1].URL != hanging {
		t.Fatalf("both down: %v", err)
	}
}

// Redirects cost a server no more than one request's timeouts: at most
// three are followed, and the reply's headers must come within 10 s over
// the whole chain. Before, ten hops of 4.8 s each held a sync for 48 s
// before the next of server_urls (an attacker's run). A chain within the
// bounds (a static server's move to another path) still works.
func TestSyncRedirectsBounded(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	good := newPublisher(t, key, nil)
	good.publish(4, buildCatalog(t, 4, "", "foo"))
	redirector := func(delay time.Duration) string {
		var ts *httptest.Server
		ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hop, _ := strconv.Atoi(r.URL.Query().Get("hop"))
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
			http.Redirect(w, r, fmt.Sprintf("%s%s?hop=%d", ts.URL, r.URL.Path, hop+1), http.StatusFound)
		}))
		t.Cleanup(ts.Close)
		return ts.URL
	}
	moved := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, good.ts.URL+r.URL.Path, http.StatusMovedPermanently)
	}))
	t.Cleanup(moved.Close)
	for _, tc := range []struct {
		name    string
		server  string
		want    string // in the error; "" for a sync that works
		atLeast time.Duration
		atMost  time.Duration
	}{
		{"endless redirects", redirector(0), "more than 3 redirects", 0, 5 * time.Second},
		// 4.2 s a hop, under the transport's 5 s: only the chain's
		// deadline stops it at 10 s (16.8 s without it).
		{"slow redirects", redirector(4200 * time.Millisecond), "no answer within 10s, redirects included", 9 * time.Second, 14 * time.Second},
		{"one redirect", moved.URL, "", 0, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := catalogclient.Sync(context.Background(), syncOpts(tc.server, t.TempDir(), key.Public()))
			took := time.Since(start)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Sync through a redirect: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Sync: %v, want an error with %q", err, tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), "redirected to "):
				t.Errorf("Sync: %v; want the redirect's target named", err)
			}
			if took < tc.atLeast || took > tc.atMost {
				t.Errorf("took %v, want %v to %v", took, tc.atLeast, tc.atMost)
			}
		})
	}
}

// A sync that a later server served says of a failed one what it did, but
// not the advice about the client's key its error ends in: the key is not
// in question, and following the advice (trust set, a new server_key) for
// the failed server would hand the client over to it.
func TestPassedLeavesOutKeyAdvice(t *testing.T) {
	t.Parallel()
	key, other := newKey(t), newKey(t)
	db := buildCatalog(t, 1, "", "foo")
	good := newPublisher(t, key, nil)
	good.publish(1, db)
	forged := newPublisher(t, other, nil)
	forged.publish(1, buildCatalog(t, 1, "evil", "foo"))
	noKey := httptest.NewServer(servePair("application/vnd.sqlite3", db, key.Sign(db))) // 404 for /key
	t.Cleanup(noKey.Close)
	tests := []struct {
		name   string
		bad    string
		key    signing.PublicKey
		pin    bool   // pin the key by a sync from good first
		advice string // what the failed server's error ends in
	}{
		{"configured key, another publisher's catalog", forged.ts.URL, key.Public(), false, "update server_key in client.yaml"},
		{"pinned key, another publisher's catalog", forged.ts.URL, nil, true, "run `dist-client trust set KEY`"},
		{"no key yet, none served", noKey.URL, nil, false, "set server_key in client.yaml to the output of `dist-server key` on the publishing server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.pin {
				mustSync(t, syncOpts(good.ts.URL, dir, nil))
			}
			opts := syncOpts("", dir, tt.key)
			opts.ServerURLs = []string{tt.bad, good.ts.URL}
			res := mustSync(t, opts)
			if res.Server != good.ts.URL || len(res.Failed) != 1 {
				t.Fatalf("sync = server %s, failed %v; want %s after one failure", res.Server, res.Failed, good.ts.URL)
			}
			f := res.Failed[0]
			if !strings.HasSuffix(f.Error(), tt.advice) {
				t.Errorf("Error() = %q, want it to end in %q", f.Error(), tt.advice)
			}
			p := f.Passed()
			if !strings.HasPrefix(p, tt.bad+" failed (after ") || strings.Contains(p, tt.advice) {
				t.Errorf("Passed() = %q, want %s failed, without the advice", p, tt.bad)
			}
		})
	}
}

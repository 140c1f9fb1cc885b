package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/daemon"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/ui"
)

func TestQuietProgress(t *testing.T) {
	for _, c := range []struct{ stall, want time.Duration }{
		{0, quietProgressEvery},
		{2 * time.Minute, quietProgressEvery},
		{8 * time.Second, quietProgressEvery},
		{4 * time.Second, time.Second},
		{500 * time.Millisecond, 200 * time.Millisecond},
	} {
		if got := quietProgress(c.stall); got != c.want {
			t.Errorf("quietProgress(%v) = %v; want %v", c.stall, got, c.want)
		}
	}
}

// TestSilentDaemonNamed: when the daemon runs but does not answer on its
// socket (out of descriptors, stopped), an install waits for it to answer
// (at most restartWait) and starts an engine of its own, whose bind fails
// on the daemon's peer_addr. The error named "another program"; it names
// the daemon and its pid.
func TestSilentDaemonNamed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the lock's holder is read from /proc/locks")
	}
	cfg := &config.Client{Prefix: filepath.Join(t.TempDir(), "prefix")}
	cfg.ApplyDefaults()
	o := &Options{Paths: paths.Home{Root: filepath.Join(t.TempDir(), "distpac")}.Client(), Config: cfg}
	peer, err := net.Listen("tcp", "127.0.0.1:0") // the daemon's peer_addr
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	o.Config.PeerAddr = peer.Addr().String()
	if err := os.MkdirAll(o.Paths.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	lock := flock.New(o.Paths.DaemonSocket() + ".lock") // the daemon's, held by this process
	if ok, err := lock.TryLock(); !ok || err != nil {
		t.Fatalf("lock: %v %v", ok, err)
	}
	defer lock.Unlock()
	_, err = o.openSource(context.Background())
	want := fmt.Sprintf("dist-client daemon (pid %d) is running but did not answer", os.Getpid())
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "another program") {
		t.Fatalf("openSource: %v\nwant an error naming the daemon: %s", err, want)
	}
}

// TestLateDaemonDownloads: no daemon answers when the install starts its
// download, and its engine finds peer_addr taken by a daemon of its data
// home (the socket's lock held) that answers a moment later (a daemon
// that binds peer_addr before it answers: starting, or back from waiting
// for peer_addr). The install downloads through it, with the lock held
// before the try (the daemon is waited for first) and taken between the
// Dial and the try (the engine's bind fails, then it is waited for). It
// failed on "address already in use", naming the daemon.
func TestLateDaemonDownloads(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("a daemon that holds the lock is told from /proc/locks")
	}
	for _, lockFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("lockFirst=%v", lockFirst), func(t *testing.T) {
			cfg := &config.Client{Prefix: filepath.Join(t.TempDir(), "prefix")}
			cfg.ApplyDefaults()
			o := &Options{Paths: paths.Home{Root: filepath.Join(t.TempDir(), "distpac")}.Client(), Config: cfg, UI: ui.New(io.Discard, io.Discard, false)}
			if err := os.MkdirAll(o.Paths.Dir, 0o700); err != nil {
				t.Fatal(err)
			}
			peer, err := net.Listen("tcp", "127.0.0.1:0") // the daemon's peer_addr
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			o.Config.PeerAddr = peer.Addr().String()
			lock := flock.New(o.Paths.DaemonSocket() + ".lock") // the daemon's, held by this process
			take := func() {
				if ok, err := lock.TryLock(); !ok || err != nil {
					t.Errorf("lock: %v %v", ok, err)
				}
			}
			defer lock.Unlock()
			const late = 300 * time.Millisecond
			if lockFirst {
				take()
			}
			mux := http.NewServeMux()
			mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { json.NewEncoder(w).Encode(daemon.Status{PID: 4242}) })
			srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)}
			defer srv.Close()
			// The daemon binds peer_addr, then answers: the socket comes
			// late, the lock before the engine's try where lockFirst.
			time.AfterFunc(late, func() {
				ln, err := net.Listen("unix", o.Paths.DaemonSocket())
				if err != nil {
					t.Error(err)
					return
				}
				go srv.Serve(ln)
			})
			if !lockFirst {
				// Taken once the install found none held, before its
				// engine's try: the try is what finds peer_addr taken.
				o.beforeEngine = take
			}
			start := time.Now()
			src, err := o.openSource(context.Background())
			checkLate(t, src, err, late)
			t.Logf("the daemon answered %v after the install asked", time.Since(start).Round(time.Millisecond))
		})
	}
}

// checkLate checks that src is the late daemon TestLateDaemonDownloads
// starts.
func checkLate(t *testing.T, src Source, err error, late time.Duration) {
	t.Helper()
	d, ok := src.(daemonSource)
	if err != nil || !ok || d.d.PID() != 4242 {
		t.Fatalf("source %#v, %v; want the daemon of pid 4242 that answered %v late", src, err, late)
	}
	d.Close()
}

// busySource reports busy web seeds as a download waiting for them does
// (at every progress report), then fails.
type busySource struct{ seeds []swarm.BusySeed }

func (s busySource) Via() string { return "" }
func (s busySource) Close()      {}
func (s busySource) Fetch(_ context.Context, _, _ []catalog.Package, ev Events) error {
	for range 3 {
		for _, b := range s.seeds {
			ev.Progress(0, 0)
			ev.busy(&b)
		}
	}
	ev.busy(nil)
	return errors.New("no source")
}

// A download waiting for a web seed that answered busy says so on stderr,
// once per seed: it was silent until the stall timeout (two minutes).
func TestBusySeedSaid(t *testing.T) {
	a := swarm.BusySeed{Seed: "http://a.test/packages/", Said: "HTTP 503 Service Unavailable (busy: asked to retry after 10s)", For: time.Minute}
	b := swarm.BusySeed{Seed: "http://b.test/packages/", Said: "HTTP 429 Too Many Requests (busy: asked to retry after 5s)", For: time.Minute}
	var out, errOut strings.Builder
	cfg := &config.Client{Prefix: filepath.Join(t.TempDir(), "prefix")}
	cfg.ApplyDefaults()
	o := Options{Paths: paths.Home{Root: filepath.Join(t.TempDir(), "distpac")}.Client(), Config: cfg,
		UI: ui.New(&out, &errOut, false), Source: busySource{[]swarm.BusySeed{a, b}}}
	rows := []catalog.Package{{Name: "hello", Version: "1.0.0", Archive: "hello-1.0.0.tar.zst", Size: 1000}}
	f, err := Start(context.Background(), o, rows)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	if err := f.Finish(); err == nil {
		t.Fatal("the fetch did not fail")
	}
	want := "warning: web seed http://a.test/packages/ is busy: it answered HTTP 503 Service Unavailable (busy: asked to retry after 10s); no peer sends the archive, so distpac waits for that server (at most 1m0s)\n" +
		"warning: web seed http://b.test/packages/ is busy: it answered HTTP 429 Too Many Requests (busy: asked to retry after 5s); no peer sends the archive, so distpac waits for that server (at most 1m0s)\n"
	if errOut.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut.String(), want)
	}
}

// partSource leaves part of the first archive in the cache and says what
// its download had received, says nothing of the second (the daemon's
// socket closed), completes the third, then fails.
type partSource struct{ cache string }

func (s partSource) Via() string { return "" }
func (s partSource) Close()      {}
func (s partSource) Fetch(_ context.Context, rows, _ []catalog.Package, ev Events) error {
	if err := os.WriteFile(filepath.Join(s.cache, rows[0].Archive+".part"), bytes.Repeat([]byte{1}, 8192), 0o644); err != nil {
		return err
	}
	ev.Stopped(rows[0], swarm.Transfer{Total: rows[0].Size, FromSeeder: 9000, Peers: 1, FromPeers: 1000})
	ev.Progress(10000, 1)
	ev.Finished(rows[2], swarm.Transfer{Total: rows[2].Size, FromSeeder: rows[2].Size})
	return context.Canceled
}

// A fetch that stopped lists the archives it had not finished, with what
// came where the source said, and what each keeps in the cache: an
// interrupted install's history entry had an empty transfer report.
func TestReportOfStoppedFetch(t *testing.T) {
	cfg := &config.Client{Prefix: filepath.Join(t.TempDir(), "prefix")}
	cfg.ApplyDefaults()
	o := Options{Paths: paths.Home{Root: filepath.Join(t.TempDir(), "distpac")}.Client(), Config: cfg, UI: ui.New(io.Discard, io.Discard, false)}
	if err := os.MkdirAll(o.Paths.Cache(), 0o755); err != nil {
		t.Fatal(err)
	}
	o.Source = partSource{o.Paths.Cache()}
	rows := []catalog.Package{
		{Name: "a", Version: "1.0.0", Archive: "a-1.0.0.tar.zst", Size: 100000},
		{Name: "b", Version: "1.0.0", Archive: "b-1.0.0.tar.zst", Size: 200000},
		{Name: "c", Version: "1.0.0", Archive: "c-1.0.0.tar.zst", Size: 300},
	}
	f, err := Start(context.Background(), o, rows)
	if err != nil {
		t.Fatal(err)
	}
	f.Stop()
	if err := f.Finish(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Finish: %v", err)
	}
	n, r, kept := f.Result()
	if r.Elapsed <= 0 {
		t.Errorf("Elapsed %v", r.Elapsed)
	}
	want := []ArchiveReport{
		{Archive: "c-1.0.0.tar.zst", Transfer: swarm.Transfer{Total: 300, FromSeeder: 300}},
		{Archive: "a-1.0.0.tar.zst", Incomplete: true, Kept: 8192, Transfer: swarm.Transfer{Total: 100000, FromSeeder: 9000, Peers: 1, FromPeers: 1000}},
		{Archive: "b-1.0.0.tar.zst", Incomplete: true, SourcesUnknown: true, Transfer: swarm.Transfer{Total: 200000}},
	}
	got, _ := json.Marshal(r.Archives)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Errorf("archives:\n%s\nwant\n%s", got, wantJSON)
	}
	// What came is at least what the source said, and what the part holds.
	if n < 10300 || f.Downloaded() != n {
		t.Errorf("Result's downloaded = %d, Downloaded() = %d, want at least 10300, the same", n, f.Downloaded())
	}
	// What is kept is what the report says each archive keeps.
	if kept.Bytes != 8192 || !slices.Equal(kept.Of, []string{"a 1.0.0"}) {
		t.Errorf("kept %d B of %q, want 8192 B of a 1.0.0", kept.Bytes, kept.Of)
	}
}

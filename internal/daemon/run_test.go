package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/buftest"
	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/swarm"
)

// Two daemons start at once beside the socket of one killed with -9: one
// takes the socket, the other is told a daemon runs. Without the lock both
// found the old socket dead, and the second removed the first one's new
// socket and linked its own (both ran; 40-100 rounds in 500).
func TestListenRaceAfterKill(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	const rounds = 300
	for round := range rounds {
		// What kill -9 leaves: a socket file nobody listens on.
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		l.SetUnlinkOnClose(false)
		l.Close()
		start := make(chan struct{})
		var wg sync.WaitGroup
		lns := make([]*Listener, 2)
		errs := make([]error, 2)
		for i := range lns {
			wg.Go(func() { <-start; lns[i], errs[i] = Listen(sock) })
		}
		close(start)
		wg.Wait()
		taken := 0
		for i, ln := range lns {
			if ln != nil {
				taken++
				continue
			}
			if !strings.Contains(errs[i].Error(), "another daemon is running") {
				t.Fatalf("round %d: Listen = %v, want another daemon is running", round, errs[i])
			}
		}
		if taken != 1 {
			t.Fatalf("round %d: %d daemons took the socket, want 1", round, taken)
		}
		// The one that runs is the one at the path.
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatalf("round %d: the daemon that took the socket is unreachable: %v", round, err)
		}
		c.Close()
		for _, ln := range lns {
			if ln != nil {
				ln.Close()
				ln.Release()
			}
		}
	}
}

// A daemon stopped while a download waits tells its caller it is stopping
// (ErrStopping) and returns only once that download has ended. Before, Serve returned at
// once, the caller closed the engine under the download, and the client
// heard of it only when the connection broke.
func TestStopEndsDownloads(t *testing.T) {
	dir := t.TempDir()
	writeCatalog(t, dir, "http://127.0.0.1:1/announce") // no tracker, no peer: the download waits
	sock, ln, engine := socketAndEngine(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	var logged buftest.Buffer
	go func() { served <- Serve(ctx, ln, engine, dir, slog.New(slog.NewTextHandler(&logged, nil))) }()
	c := Dial(context.Background(), sock)
	if c == nil {
		t.Fatal("no daemon at the socket")
	}
	if c.PID() != os.Getpid() { // a restarted daemon is told by its pid
		t.Errorf("Dial's PID %d, want the daemon's %d", c.PID(), os.Getpid())
	}
	downloaded := make(chan error, 1)
	started := make(chan struct{})
	var once sync.Once
	var last Event // written by the download's goroutine before it sends on downloaded
	go func() {
		downloaded <- c.Download(context.Background(), Request{Items: []Item{{Name: "foo", Version: "1.0.0"}}}, 50*time.Millisecond, func(ev Event) {
			last = ev
			once.Do(func() { close(started) })
		})
	}()
	select {
	case <-started:
	case err := <-downloaded:
		t.Fatalf("download ended before the daemon stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no progress event in 10 s")
	}
	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still running 10 s after the stop")
	}
	// The handler has sent its last event; the client reads it now.
	select {
	case err := <-downloaded:
		if err == nil || !strings.Contains(err.Error(), "the daemon is stopping") {
			t.Fatalf("download ended with %v; want the daemon is stopping", err)
		}
		// The client tells it from a daemon that vanished: the install
		// waits for a restart (internal/fetch).
		if !errors.Is(err, ErrStopping) || errors.Is(err, ErrGone) {
			t.Errorf("download ended with %v: ErrStopping %v, ErrGone %v; want ErrStopping alone", err, errors.Is(err, ErrStopping), errors.Is(err, ErrGone))
		}
		// The archive it failed on crosses the socket beside the text.
		if ae := (*ArchiveError)(nil); !errors.As(err, &ae) || ae.Archive != "foo-1.0.0.tar.zst" {
			t.Errorf("download ended with %#v; want an ArchiveError of foo-1.0.0.tar.zst", err)
		}
		// So does what it had received, and from where: nothing here.
		if len(last.Stopped) != 1 || last.Stopped[0].Archive != "foo-1.0.0.tar.zst" || last.Stopped[0].Total == 0 ||
			last.Stopped[0].FromSeeder+last.Stopped[0].FromPeers+last.Stopped[0].FromWebSeed != 0 {
			t.Errorf("the last event's stopped downloads: %+v; want foo-1.0.0.tar.zst's, with nothing received", last.Stopped)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the download still runs 3 s after Serve returned")
	}
	// The daemon's log says the install finishes it, not that it failed
	// and must be run again (the install hands over, internal/fetch).
	if log := logged.String(); !strings.Contains(log, "level=INFO msg=\"download handed back to the install: the daemon is stopping") ||
		strings.Contains(log, "daemon download failed") || strings.Contains(log, "install again") {
		t.Errorf("daemon log at the stop:\n%s\nwant the download handed back at INFO, no failure, no install again", log)
	}
}

// The servers' web seeds are tried in the order a sync would try the
// servers now: one that failed a sync in the last ten minutes
// (servers.json) after the others (an attacker's run: a refused, a
// black-holed and a hanging server listed first cost each install 11.6 s
// before its first byte).
func TestEngineConfigOrdersServers(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Client{ServerURLs: []string{"http://down:1", "http://up:2"}}
	cfg.ApplyDefaults()
	if got := EngineConfig(cfg, "", dir, nil).MirrorWebSeeds; !slices.Equal(got, []string{"http://down:1/packages/", "http://up:2/packages/"}) {
		t.Fatalf("no failures: %q, want the configured order", got)
	}
	failed := fmt.Sprintf(`{"failed": {"http://down:1": %q}}`, time.Now().Add(-time.Minute).Format(time.RFC3339Nano))
	if err := os.WriteFile(filepath.Join(dir, "servers.json"), []byte(failed), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := EngineConfig(cfg, "", dir, nil).MirrorWebSeeds; !slices.Equal(got, []string{"http://up:2/packages/", "http://down:1/packages/"}) {
		t.Fatalf("down failed a minute ago: %q, want it last", got)
	}
	if got := EngineConfig(cfg, "", "", nil).MirrorWebSeeds; !slices.Equal(got, []string{"http://down:1/packages/", "http://up:2/packages/"}) {
		t.Fatalf("no servers.json dir: %q, want the configured order", got)
	}
}

// stoppedOf reports only the downloads of this request that started: the
// engine keeps the last download of each torrent, and one from an earlier
// request (hours old, maybe) was reported as this one's when this one
// never got its turn (a review).
func TestStoppedOfOnlyThisRequest(t *testing.T) {
	row := writeCatalog(t, t.TempDir(), "http://127.0.0.1:1/announce")
	_, _, engine := socketAndEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- engine.Download(ctx, row.Torrent, nil, func(swarm.Progress) { once.Do(func() { close(started) }) })
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no progress in 10 s")
	}
	cancel()
	<-done // an earlier request's download, interrupted
	rows := []catalog.Package{row}
	if got := stoppedOf(engine, rows, []bool{false}); len(got) != 0 {
		t.Errorf("a download that did not run in this request reported: %+v", got)
	}
	if got := stoppedOf(engine, rows, []bool{true}); len(got) != 1 || got[0].Archive != row.Archive || got[0].Total != row.Size {
		t.Errorf("a download that ran in this request: %+v, want %s's report", got, row.Archive)
	}
}

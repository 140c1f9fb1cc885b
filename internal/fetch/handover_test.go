package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/daemon"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/ui"
)

// TestCutConnectionAskedAgain: the connection to a daemon that still runs
// breaks with no word, and no lock the lock table names is held for it
// (macOS and FreeBSD, where daemon.Holder is always 0; a daemon in
// another pid namespace): the daemon that answers with its pid is asked
// again. The install took it for exited and started an engine of its own
// beside it (here that engine's bind fails on peer_addr, so the fetch
// failed; with peer_addr on port 0 both downloaded into one .part). A
// daemon that answers with another pid is one started since (kill -9 and
// a quick restart): it downloads the rest. It was not asked, and the
// fetch failed on peer_addr, which that daemon held.
func TestCutConnectionAskedAgain(t *testing.T) {
	const pid = 1<<22 + 7 // no lock is held for it: the lock table names no holder
	for _, c := range []struct {
		name    string
		answers int // the pid the daemon at the socket answers with
		want    string
	}{
		{"the same daemon", pid, fmt.Sprintf("the daemon (pid %d), still running, was asked again and downloads the rest", pid)},
		{"another daemon", pid + 1, fmt.Sprintf("the daemon started since (pid %d) downloads the rest, from what the one that left had verified", pid+1)},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := &config.Client{Prefix: filepath.Join(t.TempDir(), "prefix")}
			cfg.ApplyDefaults()
			var stderr bytes.Buffer
			o := &Options{Paths: paths.Home{Root: filepath.Join(t.TempDir(), "distpac")}.Client(), Config: cfg, UI: ui.New(io.Discard, &stderr, false)}
			peer, err := net.Listen("tcp", "127.0.0.1:0") // peer_addr taken: no engine of the fetch's own starts
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			o.Config.PeerAddr = peer.Addr().String()
			if err := os.MkdirAll(o.Paths.Cache(), 0o700); err != nil {
				t.Fatal(err)
			}
			row := catalog.Package{Name: "a", Version: "1.0.0", Archive: "a-1.0.0.tar.zst", Size: 1000}
			var asked atomic.Int32
			mux := http.NewServeMux()
			var answers atomic.Int64
			answers.Store(pid)
			mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
				json.NewEncoder(w).Encode(daemon.Status{PID: int(answers.Load())})
			})
			mux.HandleFunc("POST /download", func(w http.ResponseWriter, r *http.Request) {
				asked.Add(1)
				enc := json.NewEncoder(w)
				enc.Encode(daemon.Event{Bytes: row.Size, Total: row.Size, Completed: &daemon.Report{Archive: row.Archive}})
				enc.Encode(daemon.Event{Bytes: row.Size, Total: row.Size, Finished: true})
			})
			serveDaemon(t, o.Paths.DaemonSocket(), mux)
			d := daemon.Dial(context.Background(), o.Paths.DaemonSocket())
			if d == nil || d.PID() != pid {
				t.Fatalf("Dial: %v, want the daemon of pid %d", d, pid)
			}
			answers.Store(int64(c.answers)) // a restart under the same socket, for the second case

			f := &Fetch{o: o, src: o.through(d), need: []catalog.Package{row}, pending: map[string]bool{row.Archive: true}, startPart: map[string]int64{}}
			var finished []string
			ev := Events{Progress: func(int64, int) {}, Grew: func(catalog.Package, int64) {},
				Finished: func(r catalog.Package, _ swarm.Transfer) { finished = append(finished, r.Archive) }}
			left := fmt.Errorf("daemon: connection closed before the download finished: %w", daemon.ErrGone)
			err = f.carryOn(context.Background(), left, nil, ev)
			if asked.Load() != 1 {
				t.Fatalf("the daemon at the socket was asked %d times, want once (fetch: %v)\n%s", asked.Load(), err, stderr.String())
			}
			if err != nil || !slices.Equal(finished, []string{row.Archive}) || !strings.Contains(stderr.String(), c.want) {
				t.Errorf("fetch after a cut connection: %v, finished %q, stderr:\n%s\nwant success, %s finished, and %q", err, finished, stderr.String(), row.Archive, c.want)
			}
		})
	}
}

// A download that failed through the daemon keeps, in the install's
// transfer report, what each unfinished archive had received and from
// where, as a failure of the install's own engine does (Event.Stopped): an
// operator's run found "sources_unknown" in the history of every install
// that failed through a daemon.
func TestFailedThroughDaemonReportsSources(t *testing.T) {
	cfg := &config.Client{Prefix: filepath.Join(t.TempDir(), "prefix")}
	cfg.ApplyDefaults()
	o := Options{Paths: paths.Home{Root: filepath.Join(t.TempDir(), "distpac")}.Client(), Config: cfg, UI: ui.New(io.Discard, io.Discard, false)}
	if err := os.MkdirAll(o.Paths.Cache(), 0o700); err != nil {
		t.Fatal(err)
	}
	rows := []catalog.Package{
		{Name: "a", Version: "1.0.0", Archive: "a-1.0.0.tar.zst", Size: 100000},
		{Name: "b", Version: "1.0.0", Archive: "b-1.0.0.tar.zst", Size: 200000},
	}
	got := swarm.Transfer{Total: 100000, FromSeeder: 30000, FromPeers: 20000, Peers: 2}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(daemon.Status{PID: 1})
	})
	mux.HandleFunc("POST /download", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(daemon.Event{Total: 300000, Bytes: 50000, FailedArchive: rows[0].Archive,
			Error: "download a-1.0.0.tar.zst: no source",
			Stopped: []daemon.Report{
				{Archive: rows[0].Archive, Transfer: got},
				{Archive: "not-asked-1.0.0.tar.zst", Transfer: swarm.Transfer{Total: 5, FromSeeder: 5}},
			}})
	})
	serveDaemon(t, o.Paths.DaemonSocket(), mux)
	f, err := Start(context.Background(), o, rows)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Finish(); err == nil || !strings.Contains(err.Error(), "no source") {
		t.Fatalf("Finish: %v; want the daemon's error", err)
	}
	_, r, _ := f.Result()
	want := []ArchiveReport{
		{Archive: rows[0].Archive, Incomplete: true, Transfer: got},
		{Archive: rows[1].Archive, Incomplete: true, SourcesUnknown: true, Transfer: swarm.Transfer{Total: 200000}},
	}
	gotJSON, _ := json.Marshal(r.Archives)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("archives:\n%s\nwant\n%s", gotJSON, wantJSON)
	}
}

// serveDaemon serves mux at sock, a fake daemon, until the test ends.
func serveDaemon(t *testing.T, sock string, mux *http.ServeMux) {
	t.Helper()
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// A daemon that sends nothing, not even progress, for a while (stopped
// with SIGSTOP) is warned of once, whether or not a bar is drawn, and the
// progress that follows says it answers again; a second silence is warned
// of again. An install whose output is no terminal said nothing until
// the stall error.
func TestSilentDaemonWarned(t *testing.T) {
	const pid = 4343
	cfg := &config.Client{Prefix: filepath.Join(t.TempDir(), "prefix")}
	cfg.ApplyDefaults()
	var stdout, stderr bytes.Buffer
	o := Options{Paths: paths.Home{Root: filepath.Join(t.TempDir(), "distpac")}.Client(), Config: cfg, UI: ui.New(&stdout, &stderr, false),
		StallTimeout: time.Minute, silence: 200 * time.Millisecond}
	if err := os.MkdirAll(o.Paths.Cache(), 0o700); err != nil {
		t.Fatal(err)
	}
	row := catalog.Package{Name: "a", Version: "1.0.0", Archive: "a-1.0.0.tar.zst", Size: 1000}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(daemon.Status{PID: pid})
	})
	mux.HandleFunc("POST /download", func(w http.ResponseWriter, _ *http.Request) {
		enc := json.NewEncoder(w)
		send := func(ev daemon.Event) {
			enc.Encode(ev)
			w.(http.Flusher).Flush()
		}
		send(daemon.Event{Bytes: 100, Total: row.Size})
		for _, quiet := range []time.Duration{50 * time.Millisecond, 700 * time.Millisecond, 50 * time.Millisecond, 700 * time.Millisecond} {
			time.Sleep(quiet)
			send(daemon.Event{Bytes: 200, Total: row.Size})
		}
		send(daemon.Event{Bytes: row.Size, Total: row.Size, Completed: &daemon.Report{Archive: row.Archive}})
		send(daemon.Event{Bytes: row.Size, Total: row.Size, Finished: true})
	})
	serveDaemon(t, o.Paths.DaemonSocket(), mux)
	f, err := Start(context.Background(), o, []catalog.Package{row})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	if err := f.Finish(); err != nil {
		t.Fatalf("Finish: %v\n%s", err, stderr.String())
	}
	warning := fmt.Sprintf("warning: dist-client daemon (pid %d) has sent nothing, not even progress, for ", pid)
	again := fmt.Sprintf("dist-client daemon (pid %d) answers again, after ", pid)
	if n := strings.Count(stderr.String(), warning); n != 2 || !strings.Contains(stderr.String(), fmt.Sprintf("kill -CONT %d resumes it", pid)) {
		t.Errorf("stderr has the warning %d times, want twice (once per silence), with kill -CONT:\n%s", n, stderr.String())
	}
	if n := strings.Count(stdout.String(), again); n != 2 {
		t.Errorf("stdout says %d times that the daemon answers again, want twice:\n%s", n, stdout.String())
	}
}

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
			ln, err := net.Listen("unix", o.Paths.DaemonSocket())
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)}
			go srv.Serve(ln)
			defer srv.Close()
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

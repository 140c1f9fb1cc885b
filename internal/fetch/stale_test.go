package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/daemon"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/ui"
)

// TestStaleDaemonWarned: an install through a daemon that started before
// the client.yaml in force last changed says so once and still goes
// through it; a daemon started after the change, one that does not say
// when it started, or no client.yaml, say nothing. Before, the install
// went quietly to the servers the daemon had read (a newcomer's run: "no
// source" with the mirror the file now named up).
func TestStaleDaemonWarned(t *testing.T) {
	started := time.Date(2026, 12, 7, 5, 10, 2, 0, time.UTC)
	tests := []struct {
		name     string
		changed  time.Time // the config file's mtime; zero: no config file
		started  time.Time
		wantWarn bool
	}{
		{"changed after the daemon started", started.Add(2 * time.Minute), started, true},
		{"changed before", started.Add(-time.Hour), started, false},
		{"the daemon does not say when it started", started.Add(2 * time.Minute), time.Time{}, false},
		{"no client.yaml", time.Time{}, started, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var errOut bytes.Buffer
			o := &Options{Paths: paths.Home{Root: filepath.Join(dir, "distpac")}.Client(), UI: ui.New(io.Discard, &errOut, false)}
			if err := os.MkdirAll(o.Paths.Dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if !tt.changed.IsZero() {
				o.ConfigFile = filepath.Join(dir, "client.yaml")
				if err := os.WriteFile(o.ConfigFile, []byte("server_urls: [http://127.0.0.1:1]\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(o.ConfigFile, tt.changed, tt.changed); err != nil {
					t.Fatal(err)
				}
			}
			ln, err := net.Listen("unix", o.Paths.DaemonSocket())
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
				json.NewEncoder(w).Encode(daemon.Status{PID: 4242, Started: tt.started})
			})
			srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)}
			go srv.Serve(ln)
			defer srv.Close()
			src, err := o.openSource(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if _, ok := src.(daemonSource); !ok {
				t.Fatalf("source %T, want the daemon", src)
			}
			got := errOut.String()
			if warned := strings.Contains(got, "after dist-client daemon (pid 4242) started"); warned != tt.wantWarn {
				t.Errorf("warned %v, want %v: %q", warned, tt.wantWarn, got)
			}
			if tt.wantWarn && !strings.Contains(got, o.ConfigFile+" changed at") {
				t.Errorf("the warning does not name %s: %q", o.ConfigFile, got)
			}
		})
	}
}

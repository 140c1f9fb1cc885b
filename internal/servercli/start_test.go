package servercli

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/server"
	"github.com/distpac/distpac/internal/ui"
)

// A failed start-up says this run's cause, once: the log holds every
// earlier run's output too, and the server logs a warning with the cause
// before its own error line.
func TestStartupError(t *testing.T) {
	const earlier = `time=2026-12-03T09:37:01.745Z level=WARN msg="sync from the primary failed" err="sync: GET http://127.0.0.1:1/packages.db: dial tcp 127.0.0.1:1: connect: connection refused"
dist-server: mirror: sync: GET http://127.0.0.1:1/packages.db: dial tcp 127.0.0.1:1: connect: connection refused
`
	exit := errors.New("exit status 1")
	tests := []struct {
		name, run string
		want      string // the error
		wantHint  string // the hint, with LOG for the log's path
	}{
		{
			name: "the server's error line, after its warning",
			run: `time=2026-12-03T09:37:01.817Z level=WARN msg="sync from the primary failed" err="sync: GET http://127.0.0.1:9/x/packages.db: 404 Not Found"
dist-server: mirror: sync: GET http://127.0.0.1:9/x/packages.db: 404 Not Found
`,
			want:     "mirror: the server exited during start-up: sync: GET http://127.0.0.1:9/x/packages.db: 404 Not Found",
			wantHint: "see LOG",
		},
		{
			name: "its hint comes along",
			run: `dist-server: start: listen tcp 127.0.0.1:9090: bind: address already in use
hint: another program listens there
`,
			want:     "start: the server exited during start-up: listen tcp 127.0.0.1:9090: bind: address already in use",
			wantHint: "another program listens there (log: LOG)",
		},
		{
			name:     "no error line: how it exited and its last lines",
			run:      "panic: oops\n\ngoroutine 1 [running]:\nmain.main()\n",
			want:     "mirror: the server exited during start-up (exit status 1): panic: oops | goroutine 1 [running]: | main.main()",
			wantHint: "see LOG",
		},
		{
			name:     "no output at all",
			want:     "mirror: the server exited during start-up (exit status 1): no output",
			wantHint: "see LOG",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "server.log")
			if err := os.WriteFile(log, []byte(earlier+tt.run), 0o644); err != nil {
				t.Fatal(err)
			}
			command, _, _ := strings.Cut(tt.want, ":")
			err := startupError(command, exit, log, int64(len(earlier)))
			var h *cli.Hinted
			if err.Error() != tt.want || !errors.As(err, &h) || h.Hint != strings.ReplaceAll(tt.wantHint, "LOG", log) {
				t.Errorf("startupError =\n  %v\nwant\n  %s\nhint %q, want %q", err, tt.want, h.Hint, tt.wantHint)
			}
		})
	}
}

// A log shorter than where the run started was rotated: all of it is
// this run's.
func TestStartupErrorRotatedLog(t *testing.T) {
	log := filepath.Join(t.TempDir(), "server.log")
	os.WriteFile(log, []byte("dist-server: start: no\n"), 0o644)
	if err := startupError("start", nil, log, 1<<20); err.Error() != "start: the server exited during start-up: no" {
		t.Errorf("startupError = %v", err)
	}
}

// relayWarnings shows the warnings a background server wrote at start-up,
// this run's only, each once and whole (the indented lines that continue
// one), and nothing else of the log: start says them on the terminal from
// there, since the server alone says them (into the log).
func TestRelayWarnings(t *testing.T) {
	const earlier = "warning: server.yaml: announce_url \"http://x\" has no path: an earlier run's\n" +
		"time=2026-12-03T09:37:01.745Z level=INFO msg=\"server ready\"\n"
	tests := []struct{ name, run, want string }{
		{
			name: "start's two, before the server's log and its ready lines",
			run: "warning: /etc/distpac/server.yaml: announce_url \"http://t:6969\" has no path: set http://t:6969/announce\n" +
				"warning: 1 published package with another tracker or web seed than server.yaml names now (app@1.0.0): remove and add\n" +
				"time=2026-12-06T12:00:00.000Z level=WARN msg=\"tracker starts with no peers\" err=\"x\"\n" +
				"dist-server running (pid 7)\n" +
				"  catalog: listening on 127.0.0.1:9090 (this machine only), http://127.0.0.1:9090\n",
			want: "warning: /etc/distpac/server.yaml: announce_url \"http://t:6969\" has no path: set http://t:6969/announce\n" +
				"warning: 1 published package with another tracker or web seed than server.yaml names now (app@1.0.0): remove and add\n",
		},
		{
			name: "a warning of several lines, after the first sync's log",
			run: "time=2026-12-06T12:00:00.000Z level=INFO msg=\"sync\"\n" +
				"warning: TRUST ON FIRST USE: pinned:\n    ed25519:K (SHA256:F)\n  Compare it.\n" +
				"dist-server mirror running (pid 8), following http://p\n" +
				"  catalog: listening on 127.0.0.1:9091\n",
			want: "warning: TRUST ON FIRST USE: pinned:\n    ed25519:K (SHA256:F)\n  Compare it.\n",
		},
		{name: "none", run: "dist-server running (pid 9)\n  catalog: x\n"},
		{name: "no output yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "server.log")
			if err := os.WriteFile(log, []byte(earlier+tt.run), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			e := &env{cli.Global{UI: ui.New(&out, &errOut, false)}}
			relayWarnings(e, log, int64(len(earlier)))
			if errOut.String() != tt.want || out.Len() != 0 {
				t.Errorf("stderr:\n%s\nwant:\n%s\nstdout: %q", errOut.String(), tt.want, out.String())
			}
		})
	}
	t.Run("no log", func(t *testing.T) {
		var errOut bytes.Buffer
		relayWarnings(&env{cli.Global{UI: ui.New(io.Discard, &errOut, false)}}, filepath.Join(t.TempDir(), "none"), 0)
		if errOut.Len() != 0 {
			t.Errorf("stderr %q, want nothing", errOut.String())
		}
	})
}

// A start or mirror where a mirror runs says it is a mirror, and of what,
// as status does; both said "a server is already running" of a mirror (a
// newcomer's run). A primary, or a server.json of another pid, is a server.
func TestAlreadyRunningSaysMirror(t *testing.T) {
	for _, tt := range []struct {
		name, json string
		want       string
	}{
		{"a mirror", `{"pid": 42, "mirror_of": ["http://p:9090", "http://q:9090"]}`,
			"mirror: a server is already running on this data directory (pid 42, a mirror of http://p:9090, http://q:9090)"},
		{"a primary", `{"pid": 42}`, "mirror: a server is already running on this data directory (pid 42)"},
		{"another pid's server.json", `{"pid": 7, "mirror_of": ["http://p:9090"]}`,
			"mirror: a server is already running on this data directory (pid 42)"},
		{"no server.json", "", "mirror: a server is already running on this data directory (pid 42)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sp := paths.Server{Dir: t.TempDir()}
			if tt.json != "" {
				if err := os.WriteFile(sp.PIDFile(), []byte(tt.json), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := alreadyRunning(sp, "mirror", 42); err == nil || err.Error() != tt.want {
				t.Errorf("alreadyRunning = %v; want %s", err, tt.want)
			}
		})
	}
}

// The start line of the seeder says where it is announced as it is:
// registered in the embedded tracker, or announcing to the trackers the
// torrents name (a mirror, start --no-tracker), which may be down. Both
// said "announced to the torrents' trackers" or "registered as" of those.
func TestPrintInfoSeederLine(t *testing.T) {
	for _, tt := range []struct {
		name string
		info server.Info
		want string
	}{
		{"embedded tracker", server.Info{PID: 1, Tracker: "http://127.0.0.1:6969/announce", Peer: "127.0.0.1:6881", Listen: map[string]string{"seeder": "127.0.0.1:6881"}},
			"registered as 127.0.0.1:6881\n"},
		{"start --no-tracker", server.Info{PID: 1, Peer: "127.0.0.1:6881", Listen: map[string]string{"seeder": "127.0.0.1:6881"}},
			"announces to the torrents' trackers as 127.0.0.1:6881\n"},
		{"a mirror", server.Info{PID: 1, MirrorOf: []string{"http://primary"}, Peer: "127.0.0.1:6882", Listen: map[string]string{"seeder": "127.0.0.1:6882"}},
			"announces to the torrents' trackers as 127.0.0.1:6882\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			printInfo(&env{cli.Global{UI: ui.New(&out, io.Discard, false)}}, false, tt.info, "")
			var seeder string
			for l := range strings.Lines(out.String()) {
				if strings.HasPrefix(l, "  seeder:") {
					seeder = l
				}
			}
			if !strings.HasSuffix(seeder, tt.want) {
				t.Errorf("seeder line %q, want it to end %q:\n%s", seeder, tt.want, out.String())
			}
		})
	}
}

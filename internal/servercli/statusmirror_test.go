package servercli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/server"
)

// status of a mirror still fetching its archives at start says what it
// does, as for one that is ready, and that its start goes on: it said only
// "starting and not ready yet" for up to 5 minutes (an operator's run).
func TestStatusOfAFillingMirror(t *testing.T) {
	synced := time.Date(2026, 12, 6, 10, 2, 0, 0, time.Local)
	info := server.Info{MirrorOf: []string{"http://primary:9090"}, Database: "http://127.0.0.1:9091", Peer: "127.0.0.1:6882", Filling: true}
	stdout := statusOf(t, server.Status{Info: info, Serial: 7, Packages: 5, Seeding: 2, SyncedAt: synced, SyncedFrom: "http://primary:9090"})
	for _, want := range []string{
		"dist-server mirror running (pid ",
		"  mirror of: http://primary:9090\n",
		"  starting:  serving the catalog, fetching the archives first",
		"  synced:    2026-12-06 10:02:00 from http://primary:9090\n",
		"  packages:  5 (catalog serial 7), seeding 2 (3 still to fetch from the primary)\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, stdout)
		}
	}
}

// statusOf is what dist-server status prints of a running server that
// answers st (a mirror's home when st.MirrorOf is set).
func statusOf(t *testing.T, st server.Status) string {
	t.Helper()
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	sp := paths.Home{Root: filepath.Join(data, "distpac")}.Server()
	dir := sp.Dir
	if len(st.MirrorOf) > 0 {
		dir = sp.MirrorCatalog()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fakeRunning(t, sp, st.Info, func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(st)
	})
	config := filepath.Join(t.TempDir(), "server.yaml")
	os.WriteFile(config, nil, 0o644)
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"--config", config, "status"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("status: exit %d: %s", code, stderr.String())
	}
	return stdout.String()
}

// fakeRunning makes sp's server look running to the commands: this
// process holds its run lock, and server.json (info, with this pid and
// the control endpoint) names a control endpoint that answers with
// control, until the test ends.
func fakeRunning(t *testing.T, sp paths.Server, info server.Info, control http.HandlerFunc) {
	t.Helper()
	l := flock.New(sp.RunLock())
	if ok, err := l.TryLock(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	t.Cleanup(func() { l.Unlock() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: control}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	info.PID, info.Control = os.Getpid(), "http://"+ln.Addr().String()
	b, _ := json.Marshal(info)
	if err := os.WriteFile(sp.PIDFile(), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

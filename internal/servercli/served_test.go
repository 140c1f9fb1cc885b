package servercli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog/catalogtest"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/server"
)

// Interrupted while it waits for the running server to load the new
// catalog, add says that the package is published (the catalog is
// committed) and that only the wait was cut short, and exits as
// interrupted. It said that the server had not picked up the serial yet,
// and exited 0 without a word about the interruption.
func TestAddInterruptedWhileWaitingForTheServer(t *testing.T) {
	sp, run := publishedOnce(t)

	// A running server that never loads the new catalog: it holds the run
	// lock, and its control endpoint reports serial 1 (the first add's).
	// The first time add asks, it is interrupted.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	fakeRunning(t, sp, server.Info{}, func(w http.ResponseWriter, _ *http.Request) {
		once.Do(cancel)
		json.NewEncoder(w).Encode(server.Status{Serial: 1})
	})

	code, stdout, stderr := run(ctx, "add", writePackage(t, "second"))
	if code != cli.ExitInterrupted {
		t.Errorf("exit %d, want %d (interrupted)", code, cli.ExitInterrupted)
	}
	if !strings.HasPrefix(stdout, "added second 1.0.0 ") {
		t.Errorf("stdout %q, want the package added", stdout)
	}
	committed := catalogtest.Serial(t, filepath.Join(sp.PublicDir(), "packages.db"))
	want := "warning: interrupted: the packages above are published (catalog serial " + strconv.FormatInt(committed, 10) + " is committed), but the wait for the running server (pid " +
		strconv.Itoa(os.Getpid()) + ") to load it was cut short; dist-server status shows the serial it serves\ndist-server: interrupted\n"
	if stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}
}

// publishedOnce makes a server's data home with package "first" added,
// and returns its paths and a runner of dist-server commands on it.
func publishedOnce(t *testing.T) (paths.Server, func(ctx context.Context, args ...string) (int, string, string)) {
	t.Helper()
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	sp := paths.Home{Root: filepath.Join(data, "distpac")}.Server()
	config := filepath.Join(t.TempDir(), "server.yaml")
	os.WriteFile(config, []byte("announce_url: \"http://127.0.0.1:9/announce\"\n"), 0o644)
	run := func(ctx context.Context, args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := Main(ctx, append([]string{"--config", config}, args...), strings.NewReader(""), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	if code, _, stderr := run(context.Background(), "add", writePackage(t, "first")); code != 0 {
		t.Fatalf("add first: exit %d: %s", code, stderr)
	}
	return sp, run
}

// writePackage writes a package directory NAME of version 1.0.0.
func writePackage(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	for file, text := range map[string]string{"manifest.yaml": "version: 1.0.0\n", "assets/a.txt": name + "\n"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(file)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, file), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// add while the running publisher still checks its archives at start
// returns at once, saying the server serves the new catalog once it is
// ready: it waited 30 s for a serial the server loads only then, and
// warned that it had not picked it up.
func TestAddWhileThePublisherVerifies(t *testing.T) {
	sp, run := publishedOnce(t)
	fakeRunning(t, sp, server.Info{Verifying: true}, func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(server.Status{Info: server.Info{Verifying: true}, ToVerify: 10})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code, stdout, stderr := run(ctx, "add", writePackage(t, "second"))
	if code != 0 || stderr != "" {
		t.Errorf("add: exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	if want := "is still starting; it serves the new catalog once it is ready"; !strings.Contains(stdout, want) {
		t.Errorf("stdout %q lacks %q", stdout, want)
	}
}

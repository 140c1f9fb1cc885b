package e2e

// Concurrent processes on one state, and a publication racing a sync:
// each test asserts that every process succeeded and nothing was lost.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/proctest"
)

// TestConcurrentInstalls: two dist-client install processes on one data
// home; the second waits for the first's lock and says so, both succeed,
// and installed.json records each package once.
func TestConcurrentInstalls(t *testing.T) {
	r := newRig(t, "upload_rate_limit: \"8MiB\"\n")
	a := r.mkpkg("alpha", "1.0.0", 12<<20)
	b := r.mkpkg("beta", "1.0.0", 1024)
	r.server("add", a, b)
	r.server("start")
	r.client1("sync")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p1 := r.start(ctx, "dist-client", "client1", "client1.yaml", "install", "alpha")
	// The first holds the lock once it has written its pid there.
	lock := filepath.Join(r.clientDir("client1"), "lock")
	want := fmt.Sprint(p1.cmd.Process.Pid)
	if !poll(10*time.Second, func() bool {
		b, _ := os.ReadFile(lock)
		return strings.TrimSpace(string(b)) == want
	}) {
		t.Fatalf("first install never took the lock:\n%s", p1.out)
	}
	cmd2 := r.cmd(ctx, "dist-client", "client1", "client1.yaml", "install", "beta")
	var stdout2, stderr2 bytes.Buffer
	cmd2.Stdout, cmd2.Stderr = &stdout2, &stderr2
	err2 := proctest.Run(cmd2)
	err1 := p1.wait()
	if err1 != nil || err2 != nil {
		t.Fatalf("install alpha: %v\n%s\ninstall beta: %v\n%s%s", err1, p1.out, err2, &stdout2, &stderr2)
	}
	if !strings.Contains(stderr2.String(), "waiting") {
		t.Errorf("second install did not say it was waiting; stderr:\n%s", &stderr2)
	}
	t.Logf("second install's stderr: %s", strings.TrimSpace(stderr2.String()))

	out := r.client1("list", "--installed", "--json")
	var list []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("list --installed --json: %v: %s", err, out)
	}
	seen := map[string]int{}
	for _, p := range list {
		seen[p.Name]++
	}
	if seen["alpha"] != 1 || seen["beta"] != 1 || len(list) != 2 {
		t.Fatalf("list --installed --json: want alpha and beta once each, got %s", out)
	}
}

// TestAddWhileSyncing: dist-server add publishes while a client syncs in a
// loop; every sync succeeds with either the old or the new catalog.
func TestAddWhileSyncing(t *testing.T) {
	r := newRig(t, "")
	r.server("add", r.mkpkg("base", "1.0.0", 1024))
	r.server("start")
	r.client1("sync")
	const adds, syncs = 5, 50
	var pkgs []string
	for i := range adds {
		pkgs = append(pkgs, r.mkpkg(fmt.Sprintf("extra%d", i), "1.0.0", 256<<10))
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var failures []string
	var mu sync.Mutex
	stop := make(chan struct{})
	ran := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ran < syncs && ctx.Err() == nil {
			select {
			case <-stop:
				if ran >= 10 {
					return
				}
			default:
			}
			out, err := proctest.CombinedOutput(r.cmd(ctx, "dist-client", "client1", "client1.yaml", "sync"))
			ran++
			if err != nil {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("sync %d: %v: %s", ran, err, out))
				mu.Unlock()
			}
		}
	}()
	for _, p := range pkgs {
		out, err := proctest.CombinedOutput(r.cmd(ctx, "dist-server", "server", "server.yaml", "add", p))
		if err != nil {
			t.Errorf("add %s: %v: %s", p, err, out)
		}
	}
	close(stop)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("%d syncs during %d adds, %d failed", ran, adds, len(failures))
	r.waitServed()
	out := r.client1("sync")
	if want := r.publishedSerial("server"); !strings.Contains(out, fmt.Sprintf("serial %d,", want)) {
		t.Fatalf("final sync: want serial %d: %s", want, out)
	}
	r.client1("install", "extra4")
}

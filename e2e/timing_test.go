package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSmallInstallTiming logs how long `dist-client install` of the small
// example packages takes once the catalog is synced: the latency a user
// sees for a tiny package (plan, BitTorrent download from the seeder,
// verify, extract, scripts). It asserts success only; times vary too much
// on shared machines to assert on.
func TestSmallInstallTiming(t *testing.T) {
	h, err := newHarness(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	env := h.environ(os.Getenv("PATH"))
	t.Cleanup(func() {
		if err := h.stopServer(); err != nil {
			t.Error(err)
		}
	})
	run := func(binary, home, config string, args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(binDir, binary), append([]string{"--config", filepath.Join(h.work, config)}, args...)...)
		cmd.Env = append(env, "XDG_DATA_HOME="+filepath.Join(h.work, home))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", binary, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	examples := filepath.Join("..", "examples")
	run("dist-server", "server", "server.yaml", "add", filepath.Join(examples, "hello"), filepath.Join(examples, "libgreet"))
	run("dist-server", "server", "server.yaml", "start")
	run("dist-client", "client1", "client1.yaml", "sync")

	start := time.Now()
	out := run("dist-client", "client1", "client1.yaml", "install", "hello")
	took := time.Since(start)
	if !strings.Contains(out, "installed hello 1.0.0") {
		t.Fatalf("install hello: no success line in:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(h.work, "prefix1", "bin", "hello")); err != nil {
		t.Fatalf("install hello: %v", err)
	}
	t.Logf("install of hello and libgreet (1.1 KiB, sync excluded): %s", took.Round(time.Millisecond))
}

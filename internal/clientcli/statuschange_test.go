package clientcli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/state"
)

// TestStatusChangeUnderWay: while a process holds the client's lock (an
// install, upgrade or uninstall), status says so and names its pid, in
// text and --json; it said nothing while an upgrade ran (a newcomer's
// run), though a second install names the pid. Without it, "change" is
// null and there is no such line.
func TestStatusChangeUnderWay(t *testing.T) {
	ctx := context.Background()
	dir, _, cfg := clientHome(t)
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := Main(ctx, append([]string{"--config", cfg, "status"}, args...), strings.NewReader(""), &out, &errOut); code != 0 {
			t.Fatalf("status %v: exit %d: %s", args, code, &errOut)
		}
		return out.String()
	}
	change := func() any {
		t.Helper()
		var j map[string]any
		out := run("--json")
		if err := json.Unmarshal([]byte(out), &j); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		v, ok := j["change"]
		if !ok {
			t.Fatalf("status --json has no \"change\": %s", out)
		}
		return v
	}

	if out := run(); strings.Contains(out, "change:") {
		t.Errorf("no lock held, and status says:\n%s", out)
	}
	if v := change(); v != nil {
		t.Errorf("no lock held: change = %v, want null", v)
	}

	lock, err := state.Acquire(ctx, filepath.Join(dir, "lock"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	want := fmt.Sprintf("change:   another dist-client (pid %d) is changing this installation", os.Getpid())
	if out := run(); !strings.Contains(out, want) {
		t.Errorf("lock held: status says\n%s\nwant a line with %q", out, want)
	}
	if v, ok := change().(map[string]any); !ok || v["pid"] != float64(os.Getpid()) {
		t.Errorf("lock held: change = %v, want {\"pid\": %d}", v, os.Getpid())
	}
}

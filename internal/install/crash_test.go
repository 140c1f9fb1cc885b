package install

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/proctest"
)

const (
	crashDirEnv = "DISTPAC_TEST_CRASH_DIR"
	crashAtEnv  = "DISTPAC_TEST_CRASH_AT"
	// crashUninstallEnv makes the helper uninstall the packages it names
	// (space-separated) instead of upgrading.
	crashUninstallEnv = "DISTPAC_TEST_CRASH_UNINSTALL"
	// crashPrefixEnv sets the helper's prefix (the world's by default).
	crashPrefixEnv = "DISTPAC_TEST_CRASH_PREFIX"
)

// TestCrashAtEveryStep kills an upgrade with SIGKILL at every step of its
// transaction, in a process of its own, then runs the next command as a
// user would: the state is the one before the upgrade (or after it, once
// committed), every recorded file is on disk as recorded, nothing
// unrecorded is in the prefix, and the upgrade then succeeds.
func TestCrashAtEveryStep(t *testing.T) {
	// The upgrade sets aside a, b and d/x, places a, c and e/, and removes d/.
	crashAtEveryStep(t, 7,
		map[string]string{"assets/a": "1", "assets/b": "1", "assets/d/x": "1"},
		map[string]string{"assets/a": "2", "assets/c": "2", "assets/e/y": "2"})
}

// TestCrashDirectoryBecomesSymlink is TestCrashAtEveryStep for an upgrade
// whose directory lib/ becomes a symlink to lib64/: it sets aside lib/
// whole, then places lib and lib64/.
func TestCrashDirectoryBecomesSymlink(t *testing.T) {
	crashAtEveryStep(t, 3,
		map[string]string{"assets/lib/a": "1", "assets/lib/sub/b": "1"},
		map[string]string{"assets/lib64/a": "2", "assets/lib": "-> lib64"})
}

// crashAtEveryStep upgrades app from the assets v1 to v2 (each installed
// under app/ by an install.sh), killed at every step of a transaction of
// moves steps.
func crashAtEveryStep(t *testing.T, moves int, v1, v2 map[string]string) {
	if testing.Short() {
		t.Skip("starts a process per step")
	}
	steps := []string{"staged", "journal"}
	for i := range moves {
		steps = append(steps, fmt.Sprintf("move#%d", i))
	}
	steps = append(steps, "commit", "finish")
	for _, at := range steps {
		t.Run(at, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			v1["scripts/install.sh"], v2["scripts/install.sh"] = destdirScript("app"), destdirScript("app")
			w.publish(w.pkg("app", "1.0.0", maps.Clone(v1)))
			if err := w.client.Install(ctx, []string{"app"}); err != nil {
				t.Fatal(err)
			}
			w.publish(w.pkg("app", "1.1.0", maps.Clone(v2)))

			killedAt(t, w.dir, at)

			// The next command recovers, as its first act.
			w2 := worldAt(t, w.dir)
			if err := w2.client.Upgrade(ctx, nil, true); err != nil {
				t.Fatal(err)
			}
			w2.consistent()
			want := "1.0.0"
			if at == "finish" {
				want = "1.1.0"
			}
			if r, _ := w2.state().Get("app"); r.Version != want {
				t.Fatalf("after a kill at %s: app %s recorded, want %s", at, r.Version, want)
			}
			if err := w2.client.Upgrade(ctx, nil, false); err != nil {
				t.Fatal(err)
			}
			w2.consistent()
			if r, _ := w2.state().Get("app"); r.Version != "1.1.0" {
				t.Fatalf("the upgrade after recovery left %s", r.Version)
			}
		})
	}
}

// killedAt runs TestCrashHelper on the world in dir, in a process of its
// own, and fails unless it was killed with SIGKILL at the step at.
func killedAt(t *testing.T, dir, at string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), crashDirEnv+"="+dir, crashAtEnv+"="+at), env...)
	out, err := proctest.CombinedOutput(cmd)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("not killed at %s: %v\n%s", at, err, out)
	}
}

// TestCrashHelper is the process the crash tests kill.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrashAtEveryStep")
	}
	w := worldAt(t, dir)
	if p := os.Getenv(crashPrefixEnv); p != "" {
		w.client.Config.Prefix = p
	}
	at, moves := os.Getenv(crashAtEnv), 0
	w.client.hook = func(step string) error {
		if step == "move" {
			step = fmt.Sprintf("move#%d", moves)
			moves++
		}
		if step == at {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
		return nil
	}
	if names := os.Getenv(crashUninstallEnv); names != "" {
		err := w.client.Uninstall(context.Background(), strings.Fields(names), false)
		t.Fatalf("not killed at %s (uninstall returned %v)", at, err)
	}
	err := w.client.Upgrade(context.Background(), nil, false)
	t.Fatalf("not killed at %s (upgrade returned %v)", at, err)
}

// TestCrashUninstallSeveral kills an uninstall of two packages at every
// step of its one transaction: the next command leaves both installed (or,
// once committed, both gone), never one of them.
func TestCrashUninstallSeveral(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process per step")
	}
	// It sets aside x/f and share/y/g, then removes x, share/y and share.
	for _, at := range []string{"journal", "move#0", "move#1", "move#2", "move#3", "move#4", "commit", "finish"} {
		t.Run(at, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			w.publish(w.pkg("x", "1.0.0", map[string]string{"assets/x/f": "f"}), w.pkg("y", "1.0.0", map[string]string{"assets/share/y/g": "g"}))
			if err := w.client.Install(ctx, []string{"x", "y"}); err != nil {
				t.Fatal(err)
			}
			killedAt(t, w.dir, at, crashUninstallEnv+"=x y")
			w2 := worldAt(t, w.dir)
			if err := w2.client.Upgrade(ctx, nil, true); err != nil { // recovers, as its first act
				t.Fatal(err)
			}
			want := []string{"x", "y"}
			if at == "finish" {
				want = nil
			}
			w2.installed(want...)
			if at != "finish" {
				if err := w2.client.Uninstall(ctx, []string{"x", "y"}, false); err != nil {
					t.Fatal(err)
				}
				w2.installed()
			}
			if ents, _ := os.ReadDir(w2.prefix()); len(ents) != 0 {
				t.Fatalf("the prefix keeps %v", ents)
			}
		})
	}
}

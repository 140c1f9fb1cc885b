package script

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func pkg(t *testing.T, body string) Env {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scripts", "install.sh"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return Env{Name: "foo", Version: "1.2.3", PkgDir: dir, Prefix: filepath.Join(dir, "prefix")}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantOut  string
		status   int // 0 = success
		wantTail []string
	}{
		{"environment", `echo "$DISTPAC_NAME $DISTPAC_VERSION"; [ "$DISTPAC_ASSETS" = "$DISTPAC_PKGDIR/assets" ] && [ "$(pwd)" = "$DISTPAC_PKGDIR" ] && echo ok`, "foo 1.2.3\nok\n", 0, nil},
		{"failure keeps last lines", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line$i; done; exit 3", "", 3, []string{"line3", "line12"}},
		{"stderr is captured", "echo oops >&2; exit 1", "oops\n", 1, []string{"oops"}},
		{"terminal codes shown, not sent", `printf 'red\033[31m\033[2J\r\n'; exit 1`, "", 1, []string{`red\x1b[31m\x1b[2J\x0d`}},
		{"long line cut", `head -c 100000 /dev/zero | tr '\0' x; echo; awk 'BEGIN { printf "x"; for (i = 0; i < 600; i++) printf "é"; print "" }'; exit 1`, "", 1, []string{strings.Repeat("x", 512) + "… (99488 more bytes)", "x" + strings.Repeat("é", 255) + "… (690 more bytes)"}},
		{"staging root", `echo "$DISTPAC_DESTDIR"`, "/stage/root\n", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := pkg(t, tt.body)
			env.DestDir = "/stage/root"
			var out bytes.Buffer
			err := Run(context.Background(), "install.sh", env, &out)
			if tt.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if out.String() != tt.wantOut {
					t.Fatalf("output %q, want %q", out.String(), tt.wantOut)
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a script error", err)
			}
			if se.Status != tt.status {
				t.Fatalf("status %d, want %d", se.Status, tt.status)
			}
			if len(se.Tail) > tailLines || se.Tail[0] != tt.wantTail[0] || se.Tail[len(se.Tail)-1] != tt.wantTail[len(tt.wantTail)-1] {
				t.Fatalf("tail %q, want first %q last %q", se.Tail, tt.wantTail[0], tt.wantTail[len(tt.wantTail)-1])
			}
			if !strings.Contains(err.Error(), "install.sh exited with status") {
				t.Fatalf("message %q", err)
			}
		})
	}
}

func TestRunCancelKillsChildren(t *testing.T) {
	env := pkg(t, "sleep 30 & sleep 30; wait")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := Run(ctx, "install.sh", env, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("cancel took %v", d)
	}
}

func TestRunMissingScript(t *testing.T) {
	env := pkg(t, "true")
	if err := Run(context.Background(), "uninstall.sh", env, nil); err == nil {
		t.Fatal("missing script ran")
	}
}

// bgPID reads the pid a script wrote and makes sure the test stops that
// process, by its pid, whatever happens.
func bgPID(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		t.Fatalf("pid file holds %q", b)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

func alive(pid int) bool {
	// A zombie (exited, not yet reaped by init) counts as gone.
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// waitDead waits (at most 5 s) for a script's background job to be gone.
func waitDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(pid) {
		t.Fatalf("background job %d of a failed script still runs", pid)
	}
}

// TestBackgroundJobs: an install script that starts a service succeeds
// when it exits 0, at once, and its jobs keep running. Before the fix the
// second case failed after 5 s with "WaitDelay expired before I/O
// complete" and the first waited as long.
func TestBackgroundJobs(t *testing.T) {
	for name, start := range map[string]string{
		"detached (nohup, output redirected)": "nohup sleep 1000 >/dev/null 2>&1 &",
		"keeps stdout open":                   "sleep 1000 &",
		"writes after the script exits":       "(sleep 0.3; while :; do echo spam; sleep 0.01; done) &",
	} {
		t.Run(name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			env := pkg(t, start+"\necho $! > '"+pidFile+"'\necho started\n")
			var out bytes.Buffer
			begin := time.Now()
			if err := Run(context.Background(), "install.sh", env, &out); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(begin); d > 2*time.Second {
				t.Errorf("Run took %v: it waited for the background job", d)
			}
			if out.String() != "started\n" {
				t.Errorf("output %q, want the script's own", out.String())
			}
			pid := bgPID(t, pidFile)
			if !alive(pid) {
				t.Errorf("background job %d was killed after the script succeeded", pid)
			}
		})
	}
}

// TestFailureKillsJobs: a script that fails takes its background jobs with
// it (its process group).
func TestFailureKillsJobs(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	env := pkg(t, "sleep 1000 &\necho $! > '"+pidFile+"'\nexit 2\n")
	err := Run(context.Background(), "install.sh", env, nil)
	var se *Error
	if !errors.As(err, &se) || se.Status != 2 {
		t.Fatalf("err = %v", err)
	}
	waitDead(t, bgPID(t, pidFile))
}

func TestTimeout(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	env := pkg(t, "sleep 1000 &\necho $! > '"+pidFile+"'\necho waiting\nwait\n")
	env.Timeout = 300 * time.Millisecond
	err := Run(context.Background(), "install.sh", env, nil)
	var se *Error
	if !errors.As(err, &se) || se.TimedOut != env.Timeout || !strings.Contains(err.Error(), "install.sh timed out after 300ms and was killed") || se.Tail[0] != "waiting" {
		t.Fatalf("err = %v", err)
	}
	waitDead(t, bgPID(t, pidFile))
}

// Check parses without running: a syntax error is the shell's message,
// without the path the caller names; a script that would fail when run
// parses.
func TestCheck(t *testing.T) {
	tests := []struct {
		name, body string
		dash       string // the message from dash; "" = parses
	}{
		{"fine", "set -e\nif [ -n \"$DISTPAC_DESTDIR\" ]; then\n  cp -r assets/. \"$DISTPAC_DESTDIR$DISTPAC_PREFIX\"\nfi\n", ""},
		{"fails when run, parses", "exit 3\n", ""},
		{"not run", "touch ran\n", ""},
		{"then without if", "set -e\n[ -d assets ]; then\n  echo yes\nfi\n", `2: Syntax error: "then" unexpected`},
		{"unterminated quote", "echo \"hello\n", `2: Syntax error: Unterminated quoted string`},
	}
	sh, _ := filepath.EvalSymlinks(Shell)
	const prefix = "does not parse with /bin/sh, which clients run it with: "
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := pkg(t, tt.body)
			err := Check(filepath.Join(env.PkgDir, "scripts", "install.sh"))
			switch {
			case tt.dash == "" && err != nil:
				t.Errorf("Check = %v, want it to parse", err)
			case tt.dash != "" && (err == nil || !strings.HasPrefix(err.Error(), prefix) || strings.Contains(err.Error(), env.PkgDir)):
				t.Errorf("Check = %v, want %q and the shell's message without the path", err, prefix)
			case tt.dash != "" && filepath.Base(sh) == "dash" && err.Error() != prefix+tt.dash:
				t.Errorf("Check = %q, want %q", err, prefix+tt.dash)
			}
			if _, err := os.Stat(filepath.Join(env.PkgDir, "ran")); err == nil {
				t.Error("Check ran the script")
			}
		})
	}
}

// TestTailWriter: the lines a failing script's error repeats are the last
// tailLines, whatever the writes' boundaries, empty ones kept but not at
// the end, each escaped and cut with an exact count of what was left out.
func TestTailWriter(t *testing.T) {
	many := make([]string, 15)
	for i := range many {
		many[i] = fmt.Sprintf("line%d\n", i)
	}
	tests := []struct {
		name   string
		writes []string
		want   []string
	}{
		{"nothing", nil, nil},
		{"only newlines", []string{"\n\n"}, nil},
		{"empty lines between, not at the end", []string{"a\n\nb\n\n\n"}, []string{"a", "", "b"}},
		{"unended last line", []string{"a\nb"}, []string{"a", "b"}},
		{"split across writes", []string{"he", "llo\nwor", "ld\n"}, []string{"hello", "world"}},
		{"the last ten", many, []string{"line5", "line6", "line7", "line8", "line9", "line10", "line11", "line12", "line13", "line14"}},
		{"escaped", []string{"\x1b[2Jx\r\n"}, []string{`\x1b[2Jx\x0d`}},
		{"cut in pieces, counted", []string{strings.Repeat("y", 300), strings.Repeat("y", 70000), "\n"}, []string{strings.Repeat("y", 512) + "… (69788 more bytes)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w tailWriter
			for _, s := range tt.writes {
				w.Write([]byte(s))
			}
			if got := w.lines(); !slices.Equal(got, tt.want) {
				t.Errorf("lines %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRunUmask: a script runs with umask 022 whatever the caller's, as
// dpkg and pacman run theirs: under umask 000 the directories it made were
// world-writable in the prefix.
func TestRunUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	env := pkg(t, `umask; mkdir "$DISTPAC_PKGDIR/made"; echo "$0"`)
	var out strings.Builder
	if err := Run(context.Background(), "install.sh", env, &out); err != nil {
		t.Fatal(err)
	}
	want := "0022\n" + filepath.Join(env.PkgDir, "scripts", "install.sh") + "\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	if fi, err := os.Stat(filepath.Join(env.PkgDir, "made")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("a directory the script made: %v, %v; want 0755", fi.Mode(), err)
	}
}

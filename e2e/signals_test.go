package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/buftest"
	"github.com/distpac/distpac/internal/proctest"
)

// scriptedPackage adds a package (version 1.0.0 unless given) whose
// install.sh records its PID, prints "step 1".."step 10" a little apart,
// then waits (at most 30 s) while the file hang exists, then places
// NAME/ok.
func (r *rig) scriptedPackage(name, hang string, version ...string) (scriptPID string) {
	r.t.Helper()
	v := "1.0.0"
	if len(version) > 0 {
		v = version[0]
	}
	scriptPID = r.path(name + "-" + v + ".pid")
	install := fmt.Sprintf(`#!/bin/sh
set -eu
echo $$ > %[1]q
for i in 1 2 3 4 5 6 7 8 9 10; do echo "step $i"; sleep 0.05; done
i=0
while [ -e %[2]q ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
mkdir -p "$DISTPAC_DESTDIR$DISTPAC_PREFIX/%[3]s"
echo done > "$DISTPAC_DESTDIR$DISTPAC_PREFIX/%[3]s/ok"
`, scriptPID, hang, name)
	dir := r.path("pkgs", name+"-"+v)
	r.writeFiles(dir, map[string]string{
		"manifest.yaml":      "name: " + name + "\nversion: " + v + "\n",
		"scripts/install.sh": install,
	})
	r.server("add", dir)
	return scriptPID
}

// waitScriptPID waits for a PID file and returns what it holds.
func waitScriptPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	if !poll(30*time.Second, func() bool {
		b, err := os.ReadFile(path)
		_, serr := fmt.Sscan(string(b), &pid)
		return err == nil && serr == nil && pid > 0
	}) {
		t.Fatalf("install.sh never wrote its PID to %s", path)
	}
	return pid
}

// TestHangupInterrupts: SIGHUP (the terminal or the SSH session gone)
// ends an install as Ctrl-C does: the script's process group is stopped,
// nothing is recorded or placed, staging is cleaned, exit 130. It killed
// dist-client where it stood, install.sh running on without it.
func TestHangupInterrupts(t *testing.T) {
	r := newRig(t, "")
	hang := r.path("hang")
	if err := os.WriteFile(hang, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pidFile := r.scriptedPackage("slow", hang)
	r.server("start")
	r.client1("sync")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := r.start(ctx, "dist-client", "client1", "client1.yaml", "install", "slow")
	script := waitScriptPID(t, pidFile)
	t.Cleanup(func() { syscall.Kill(script, syscall.SIGKILL) }) // ours, by PID, should it outlive the test
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-p.done:
		p.done <- err // for start's cleanup
	case <-time.After(20 * time.Second):
		t.Fatalf("dist-client still runs 20 s after SIGHUP:\n%s", p.out)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 || !strings.Contains(p.out.String(), "dist-client: interrupted") {
		t.Fatalf("after SIGHUP: %v, want exit 130 and \"interrupted\":\n%s", err, p.out)
	}
	if !poll(10*time.Second, func() bool { return syscall.Kill(script, 0) != nil }) {
		t.Fatalf("install.sh (pid %d) runs on after dist-client ended", script)
	}
	if out := r.client1("list", "--installed"); strings.Contains(out, "slow") {
		t.Fatalf("the interrupted install is recorded:\n%s", out)
	}
	if ents, _ := os.ReadDir(r.path("client1", "distpac", "client", "staging")); len(ents) != 0 {
		t.Fatalf("staging left behind: %v", ents)
	}
}

// TestInterruptedJSON: install --json and upgrade --json stopped by
// Ctrl-C say "error": "interrupted" in their result, the words of stderr's
// "dist-client: interrupted" (they said Go's "context canceled").
func TestInterruptedJSON(t *testing.T) {
	r := newRig(t, "")
	hang := r.path("hang")
	r.scriptedPackage("old", hang) // no hang file yet: its script ends
	r.server("start")
	r.client1("sync")
	r.client1("install", "old")
	if err := os.WriteFile(hang, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args    []string
		publish func() string
	}{
		{[]string{"install", "--json", "slow"}, func() string { return r.scriptedPackage("slow", hang) }},
		{[]string{"upgrade", "--json", "old"}, func() string { return r.scriptedPackage("old", hang, "2.0.0") }},
	} {
		pidFile := tt.publish()
		r.waitServed()

		r.client1("sync")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := r.cmd(ctx, "dist-client", "client1", "client1.yaml", tt.args...)
		var stdout, stderr buftest.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := proctest.Start(cmd); err != nil {
			t.Fatal(err)
		}
		script := waitScriptPID(t, pidFile)
		t.Cleanup(func() { syscall.Kill(script, syscall.SIGKILL) }) // ours, by PID, should it outlive the test
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 || !strings.Contains(stderr.String(), "dist-client: interrupted") {
			t.Fatalf("%v after Ctrl-C: %v, want exit 130 and \"interrupted\":\n%s", tt.args, err, stderr.String())
		}
		var res struct {
			Error string `json:"error"`
			Hint  string `json:"hint"`
		}
		if err := json.Unmarshal([]byte(stdout.String()), &res); err != nil || res.Error != "interrupted" || res.Hint != "" {
			t.Fatalf("%v after Ctrl-C printed (%v):\n%s\nwant \"error\": \"interrupted\" and no hint", tt.args, err, stdout.String())
		}
	}
}

// TestClosedStdoutFinishesInstall: `dist-client install | head -1` (or a
// pager quit early) closes the pipe dist-client writes to. The write's
// SIGPIPE killed it mid-install, no word, no rollback, its install.sh
// running on. Now the writes fail and are dropped and the install
// finishes: recorded, placed, the script's whole output in scripts.log.
func TestClosedStdoutFinishesInstall(t *testing.T) {
	r := newRig(t, "")
	hang := r.path("hang")
	if err := os.WriteFile(hang, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pidFile := r.scriptedPackage("piped", hang)
	r.server("start")
	r.client1("sync")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := r.cmd(ctx, "dist-client", "client1", "client1.yaml", "install", "piped")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := proctest.Start(cmd); err != nil {
		t.Fatal(err)
	}
	// The first line, then the reader goes, as head -1 does.
	first, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no first line: %v", err)
	}
	stdout.Close()
	script := waitScriptPID(t, pidFile)
	t.Cleanup(func() { syscall.Kill(script, syscall.SIGKILL) })
	os.Remove(hang) // the script ends, writing to a pipe nobody reads
	if err := cmd.Wait(); err != nil {
		t.Fatalf("install with its stdout closed after %q: %v", first, err)
	}
	if out := r.client1("list", "--installed"); !strings.Contains(out, "piped") {
		t.Fatalf("the install is not recorded:\n%s", out)
	}
	if b, err := os.ReadFile(r.path("prefix1", "piped", "ok")); err != nil || string(b) != "done\n" {
		t.Fatalf("install.sh did not finish: %q, %v", b, err)
	}
	log, err := os.ReadFile(r.path("client1", "distpac", "client", "scripts.log"))
	if err != nil || !strings.Contains(string(log), "step 10") {
		t.Fatalf("scripts.log lacks the script's last line: %v\n%s", err, log)
	}
}

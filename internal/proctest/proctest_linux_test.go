package proctest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// roleEnv tells a copy of this test binary which part it plays.
const roleEnv = "DISTPAC_PROCTEST_ROLE"

// The tests below run a copy of this test binary (the "test binary" of
// the story), which starts a process the way a test does, says its PID
// and kills itself with SIGKILL, as a timed-out or hand-killed go test
// dies: no cleanup runs. The process must then die too.

// TestStartDiesWithTestBinary: a process started with Start dies with the
// test binary, even when the goroutine that called Start was locked to a
// thread that has ended since (with Pdeathsig set on that thread's fork,
// the child died at once then).
func TestStartDiesWithTestBinary(t *testing.T) {
	if os.Getenv(roleEnv) == "start" {
		cmd := exec.Command("sleep", "60")
		var err error
		if terr := OnEndingThread(func() { err = Start(cmd) }); terr != nil || err != nil {
			fmt.Println("error:", terr, err)
			os.Exit(1)
		}
		time.Sleep(200 * time.Millisecond) // a signal sent when the thread ended has landed by now
		if !alive(cmd.Process.Pid) {
			fmt.Println("error: the child died when the thread that started it ended")
			os.Exit(1)
		}
		dieLeaving(cmd.Process.Pid)
	}
	assertDiesWithTestBinary(t, "start")
}

// TestWatchdogKillsDetached: the watchdog kills a marked process that is
// not the test binary's child (a shell's background job, the shell gone).
func TestWatchdogKillsDetached(t *testing.T) {
	if os.Getenv(roleEnv) == "watchdog" {
		mark, err := Watchdog()
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		k, v, _ := strings.Cut(mark, "=")
		os.Setenv(k, v)
		out, err := exec.Command("/bin/sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!").Output()
		p, perr := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil || perr != nil {
			fmt.Println("error:", err, perr)
			os.Exit(1)
		}
		dieLeaving(p)
	}
	assertDiesWithTestBinary(t, "watchdog")
}

// dieLeaving says pid and ends this process with SIGKILL.
func dieLeaving(pid int) {
	fmt.Printf("child %d\n", pid)
	os.Stdout.Sync()
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// assertDiesWithTestBinary runs a copy of this test binary in role,
// which starts a process and dies leaving it, and checks that the process
// ends within 5 s.
func assertDiesWithTestBinary(t *testing.T, role string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var child int
	var said []string
	for lines := bufio.NewScanner(stdout); lines.Scan(); {
		said = append(said, lines.Text())
		if n, ok := strings.CutPrefix(lines.Text(), "child "); ok {
			child, _ = strconv.Atoi(n)
		}
	}
	cmd.Wait()
	if child == 0 {
		t.Fatalf("the test binary started no child: %q", said)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(child) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(child) {
		syscall.Kill(child, syscall.SIGKILL) // ours, by its PID
		t.Fatalf("process %d outlived the test binary that started it by 5 s", child)
	}
}

// alive reports whether pid runs (a zombie, dead and not yet reaped, does
// not).
func alive(pid int) bool {
	_, live := parent(pid)
	return live
}

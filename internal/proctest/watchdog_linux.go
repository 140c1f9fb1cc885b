package proctest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

const (
	// watchdogEnv, in the environment of a test binary, makes it the
	// watchdog (WatchdogMain) of the processes marked with its value.
	watchdogEnv = "DISTPAC_PROCTEST_WATCHDOG"
	// markName is the name of the mark's environment entry.
	markName = "DISTPAC_PROCTEST_MARK"
)

// held is the write end of the pipe the watchdog reads: this process holds
// it open until it ends, and the kernel closes it then, however it ends.
// A package variable: an *os.File no longer referenced is closed by its
// finalizer, which would wake the watchdog early.
var held *os.File

// Watchdog starts a watchdog for this process, a copy of this test binary
// (which must call WatchdogMain first in its TestMain), and returns its
// mark, an environment entry NAME=VALUE unique to this process. When this
// process ends, however it ends, the watchdog kills every process whose
// environment holds the mark, and their descendants. The caller puts the
// mark in its own environment (os.Setenv), which the processes it starts
// inherit, and in every environment it builds from scratch. Processes
// that clear their environment (nginx's workers) are reached as
// descendants of a marked one. It returns "" where there is no watchdog
// (not Linux).
func Watchdog() (string, error) {
	if held != nil {
		return "", fmt.Errorf("watchdog: already started")
	}
	var b [12]byte
	rand.Read(b[:])
	mark := markName + "=" + hex.EncodeToString(b[:])
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("watchdog: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return "", fmt.Errorf("watchdog: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(exe, "-test.run=^$")
	// Not marked itself, and told its mark.
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, markName+"=") || strings.HasPrefix(kv, watchdogEnv+"=")
	}), watchdogEnv+"="+mark)
	cmd.Stdin = r
	cmd.Stderr = os.Stderr // it says what it killed
	// A process group of its own: the terminal's Ctrl-C, which stops
	// go test, does not stop the watchdog before its work.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return "", fmt.Errorf("watchdog: %w", err)
	}
	go cmd.Wait() // reaps it should it end first (it outlives this process otherwise)
	held = w
	return mark, nil
}

// WatchdogMain makes this process the watchdog when Watchdog started it:
// it waits for the process that started it to end, kills what that
// process left running, and exits. Otherwise it returns at once. Call it
// first in TestMain.
func WatchdogMain() {
	mark := os.Getenv(watchdogEnv)
	if mark == "" {
		return
	}
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	io.Copy(io.Discard, os.Stdin) // nothing is written: EOF once the writer ended
	if left := killMarked(mark, os.Getpid()); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "proctest: killed what the test binary left running when it ended (%d):\n  %s\n",
			len(left), strings.Join(left, "\n  "))
	}
	os.Exit(0)
}

// killMarked kills the processes marked with mark and their descendants,
// except self, and describes each it killed. It stops them first, round
// after round until a scan finds none it has not stopped: a stopped
// process forks no more, and killing a parent before its child is found
// would hand the child to init, out of reach if it is unmarked. Bounded:
// at most 100 rounds.
func killMarked(mark string, self int) []string {
	stopped := map[int]string{}
	for range 100 {
		fresh := 0
		for _, pid := range marked(mark) {
			if _, ok := stopped[pid]; ok || pid == self {
				continue
			}
			// Only a process stopped is killed below: one already gone
			// when it was found left its id free for another's.
			if syscall.Kill(pid, syscall.SIGSTOP) != nil {
				continue
			}
			stopped[pid] = describe(pid)
			fresh++
		}
		if fresh == 0 {
			break
		}
	}
	var left []string
	for pid, what := range stopped {
		syscall.Kill(pid, syscall.SIGKILL)
		left = append(left, what)
	}
	slices.Sort(left)
	return left
}

// marked lists the live processes whose environment holds mark and their
// descendants.
func marked(mark string) []int {
	ents, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	var found []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, live := parent(pid)
		if !live {
			continue
		}
		children[ppid] = append(children[ppid], pid)
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && slices.Contains(strings.Split(string(env), "\x00"), mark) {
			found = append(found, pid)
		}
	}
	seen := map[int]bool{}
	for i := 0; i < len(found); i++ {
		if seen[found[i]] {
			found = slices.Delete(found, i, i+1)
			i--
			continue
		}
		seen[found[i]] = true
		found = append(found, children[found[i]]...)
	}
	return found
}

// parent returns pid's parent, and false for a process that is gone or a
// zombie (dead, waiting for its parent to reap it).
func parent(pid int) (int, bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// describe is pid and its command line, for the report.
func describe(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return fmt.Sprintf("%d %s", pid, strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")))
}

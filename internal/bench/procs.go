//go:build linux

package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/deathsig"
)

// freePorts returns n distinct free ports (freePort).
func freePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	return ports, nil
}

// proc is a child process this benchmark started and must stop.
type proc struct {
	cmd  *exec.Cmd
	done chan error
}

// startProc starts a long-lived program with its output in logPath and
// env added to this process's. The kernel sends it sig when this process
// ends, however it ends (deathsig; 0: nothing).
func startProc(logPath string, env []string, sig syscall.Signal, name string, args ...string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := deathsig.Start(cmd, sig); err != nil {
		logf.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	return p, nil
}

// exited reports whether the process has ended, and how, without waiting.
func (p *proc) exited() (bool, error) {
	select {
	case err := <-p.done:
		p.done <- err // stop reads it again
		return true, err
	default:
		return false, nil
	}
}

// stop ends the process by its PID: SIGTERM, then SIGKILL after a grace.
func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// peakRSS reads a live process's high-water resident set size.
func peakRSS(pid int) int64 { return cli.PeakRSS(pid) }

// reportedPeakRSS reads the peak RSS that a distpac command wrote into
// path as it ended (cli.PeakRSSEnv); 0 when it wrote none.
func reportedPeakRSS(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// rowCPU counts the CPU time of a row's processes from the row's common
// start on: a process started before it (a seeder, a client daemon, a
// libtorrent or Transmission leecher waiting for the start) counts only
// its work in the row, as a process started at the start (aria2's
// leechers, the installs) counts all of its own. The start-up of a
// long-lived daemon (its runtime or interpreter, its catalog, its check of
// the cache) is no part of the swarm's CPU per byte delivered; counted, it
// was 1.56 s of an N=32 row's 18.9 s (the seeder and 32 daemons, 47 ms
// each: 32 start at once on two cores).
type rowCPU map[*proc]time.Duration

// start notes the CPU time the processes have used so far.
func (r rowCPU) start(ps ...*proc) {
	for _, p := range ps {
		r[p] = cpuTime(p.cmd.Process.Pid)
	}
}

// of is p's CPU time since start (all of it for a process not noted).
func (r rowCPU) of(p *proc) time.Duration {
	return cpuTime(p.cmd.Process.Pid) - r[p]
}

// cpuTime reads a live process's user plus system CPU time (its own, not
// its children's) from /proc/PID/stat.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	d, _ := parseStatCPU(b)
	return d
}

// parseStatCPU takes utime and stime (fields 14 and 15) from the text of
// /proc/PID/stat. The command name (field 2, in parentheses) may hold
// spaces and parentheses, so fields are counted from after its last ')'.
func parseStatCPU(b []byte) (time.Duration, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, true
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on Linux
// on every architecture Go supports.
const clockTicks = 100

// watchPeakRSS runs wait (which returns when process pid has ended) and
// returns the highest VmHWM read from /proc while it ran, polled every few
// milliseconds. The rusage of a child cannot be used: a child started with
// vfork (as Go's os/exec does) shares this process's memory until it
// execs, and Linux then records this process's high-water mark as the
// child's ru_maxrss (after the HTTP row, every install "peaked" at this
// benchmark's own 58-62 MiB).
func watchPeakRSS(pid int, wait func()) int64 {
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var m int64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			m = max(m, peakRSS(pid))
			select {
			case <-done:
				peak <- m
				return
			case <-tick.C:
			}
		}
	}()
	wait()
	close(done)
	return <-peak
}

func waitUntil(ctx context.Context, d time.Duration, what string, ok func() bool) error {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", d, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func run(env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// tail returns about the last n bytes of a file, on one line.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	return tailText(b, n)
}

// tailText is about the last n bytes of b, on one line.
func tailText(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// stopAll stops processes by PID, all at once: each Transmission daemon
// says goodbye to the tracker on SIGTERM, which one by one adds up.
func stopAll(ps []*proc) {
	var wg sync.WaitGroup
	for _, p := range ps {
		if p != nil {
			wg.Add(1)
			go func() { defer wg.Done(); p.stop() }()
		}
	}
	wg.Wait()
}

// Package script runs a package's install and uninstall scripts with /bin/sh
// and the DISTPAC_* environment of DESIGN.md §6.
//
// A script may start background jobs (a service: `nohup daemon &`, or a
// plain `sleep 1000 &` that keeps the script's stdout open). The script
// succeeds when it exits 0, whatever its children do: its output goes to a
// file, not a pipe, so nothing waits for the children to close it, and the
// file is read while the script runs and once more when it exits. The
// script's process group is killed only when the script fails, times out
// or is cancelled.
package script

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Env is what a script is told about its package.
type Env struct {
	Name, Version string
	PkgDir        string // the extracted package
	Prefix        string // the final prefix, for paths written into files
	// DestDir is the empty staging root an install script writes its files
	// under ($DISTPAC_DESTDIR$DISTPAC_PREFIX); empty for uninstall.sh.
	DestDir string
	// Timeout ends a script that runs longer (0: DefaultTimeout).
	Timeout time.Duration
	// Log, when set, keeps the script's output and how it ended, whether
	// or not it is shown.
	Log *Log
	// Started, when set, is told the script's process group once its
	// process exists and before the script runs: the process waits at a
	// gate until Started returns, and runs the script only when it
	// returns nil (Run returns its error), so that what Started records
	// is there before the script's first effect. A kill of this process
	// meanwhile closes the gate: the script never runs.
	Started func(Group) (mark string, err error)
	// Mark, with Started, is a file the script's process writes the mark
	// Started returned to, as a line, when it passes the gate, before it
	// runs the script: the script's own word that it started, which no
	// kill of this process can fake or lose.
	Mark *os.File
}

// DefaultTimeout is how long a script may run. Install scripts copy files;
// half an hour leaves room for one that builds something.
const DefaultTimeout = 30 * time.Minute

func (e Env) vars() []string {
	return []string{
		"DISTPAC_NAME=" + e.Name,
		"DISTPAC_VERSION=" + e.Version,
		"DISTPAC_PKGDIR=" + e.PkgDir,
		"DISTPAC_ASSETS=" + filepath.Join(e.PkgDir, "assets"),
		"DISTPAC_PREFIX=" + e.Prefix,
		"DISTPAC_DESTDIR=" + e.DestDir,
	}
}

// tailLines is how much of a failing script's output the error repeats.
const tailLines = 10

// Error is a script that ran and failed.
type Error struct {
	Script   string
	Status   int           // exit status; -1 when killed by a signal
	TimedOut time.Duration // set when it ran out of time and was killed
	Tail     []string      // its last lines of output
	Log      string        // the log that holds its output, if any
	Trimmed  bool          // the log holds its first and last lines only (Log.runShare)
}

func (e *Error) Error() string {
	msg := e.Script + " " + e.ended()
	if len(e.Tail) > 0 {
		where := ""
		switch {
		case e.Trimmed:
			where = " (its first and last lines in " + e.Log + ")"
		case e.Log != "":
			where = " (all of it in " + e.Log + ")"
		}
		msg += "; last output" + where + ":\n    " + strings.Join(e.Tail, "\n    ")
	}
	return msg
}

// ended says how the script ended: "exited with status 3", "timed out
// after 30m0s and was killed".
func (e *Error) ended() string {
	if e.TimedOut > 0 {
		return fmt.Sprintf("timed out after %s and was killed", e.TimedOut)
	}
	return fmt.Sprintf("exited with status %d", e.Status)
}

// Shell runs every script, as `Shell scripts/NAME`: a #! line does not
// choose another.
const Shell = "/bin/sh"

// Names are the scripts a package may ship in scripts/: the only ones run.
var Names = []string{"install.sh", "uninstall.sh"}

// ErrNoShell: Check found no Shell to parse the script with.
var ErrNoShell = errors.New(Shell + " not found")

// Check parses the script at path with Shell -n, without running it, so
// that a publisher's syntax error stops the add instead of every client's
// install. The error carries the shell's message, without the path it
// starts with (the caller names the file). The publisher's Shell may not
// be every client's (dash here, bash there): this catches what the
// publisher's refuses, not what only a client's would.
func Check(path string) error {
	out, err := exec.Command(Shell, "-n", path).CombinedOutput()
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		if errors.Is(err, os.ErrNotExist) {
			return ErrNoShell
		}
		return fmt.Errorf("%s -n: %w", Shell, err)
	}
	var msg []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		msg = append(msg, strings.TrimPrefix(strings.TrimSpace(l), path+": "))
	}
	return fmt.Errorf("does not parse with %s, which clients run it with: %s", Shell, strings.Join(msg, "; "))
}

// Exists reports whether the package at pkgDir ships scripts/<name>.
func Exists(pkgDir, name string) bool {
	fi, err := os.Stat(filepath.Join(pkgDir, "scripts", name))
	return err == nil && fi.Mode().IsRegular()
}

// pollEvery is how often the output file is read while the script runs.
const pollEvery = 50 * time.Millisecond

// Run runs PkgDir/scripts/<name> (e.g. "install.sh") with the package as
// working directory. Output goes to out as it comes (out may be nil) and to
// env.Log; the last lines are kept for the error. It returns when the
// script exits.
func Run(ctx context.Context, name string, env Env, out io.Writer) error {
	if env.Log == nil {
		return run(ctx, name, env, out)
	}
	lr := env.Log.start(env.Name, env.Version, name)
	w := io.Writer(lr) // first: it never fails, so the terminal's errors do not stop it
	if out != nil {
		w = io.MultiWriter(lr, out)
	}
	err := run(ctx, name, env, w)
	lr.end(err)
	var se *Error
	if logged, trimmed := lr.ok(); errors.As(err, &se) && logged {
		se.Log, se.Trimmed = env.Log.Path, trimmed
	}
	return err
}

func run(ctx context.Context, name string, env Env, out io.Writer) error {
	path := filepath.Join(env.PkgDir, "scripts", name)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("script %s: %w", name, err)
	}
	timeout := env.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// The output file is unlinked at once: nothing is left behind, and a
	// background job that keeps writing writes to a file nobody reads.
	logf, err := os.CreateTemp("", "distpac-"+name+"-*.log")
	if err != nil {
		return fmt.Errorf("script %s: output file: %w", name, err)
	}
	os.Remove(logf.Name())
	defer logf.Close()

	// umask 022, as dpkg and pacman run their scripts: with the caller's
	// umask of 000 the directories a script made were placed 0777, and
	// another user could swap the package's binaries for their own, which
	// the caller then ran (an attacker's run). exec keeps one process, the
	// script's $0 its path.
	cmd := exec.Command(Shell, "-c", `umask 022 && exec "$0" "$1"`, Shell, path)
	g, err := holdAtGate(cmd, env)
	if err != nil {
		return fmt.Errorf("script %s: %w", name, err)
	}
	defer g.close()
	cmd.Dir = env.PkgDir
	cmd.Env = append(os.Environ(), env.vars()...)
	cmd.Stdin = nil
	// An *os.File is handed to the child as is: exec starts no copying
	// goroutine, so Wait returns when the script exits even while its
	// children hold the file open.
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("script %s: %w", name, err)
	}
	pgid := cmd.Process.Pid
	killGroup := func() { syscall.Kill(-pgid, syscall.SIGKILL) }
	if err := g.open(Identify(pgid)); err != nil {
		killGroup()
		cmd.Wait()
		if errors.Is(err, ErrNotStarted) {
			// What the gate's shell said (printf's "No space left on
			// device"), as a failing script's last line.
			tail := &tailWriter{}
			follow(logf, tail, closed)
			if l := tail.lines(); len(l) > 0 {
				err = fmt.Errorf("%w (%s)", err, l[len(l)-1])
			}
		}
		return fmt.Errorf("script %s: %w", name, err)
	}
	tail := &tailWriter{}
	w := io.Writer(tail)
	if out != nil {
		w = io.MultiWriter(tail, out) // tail first: it never fails
	}
	exited := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		follow(logf, w, exited)
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-waited:
	case <-ctx.Done():
		killGroup()
		werr = <-waited
	}
	close(exited)
	<-copied

	if ctx.Err() != nil {
		killGroup()
		if parent.Err() == nil {
			return &Error{Script: name, Status: -1, TimedOut: timeout, Tail: tail.lines()}
		}
		return fmt.Errorf("script %s: %w", name, parent.Err())
	}
	if werr == nil {
		return nil // its background jobs keep running
	}
	killGroup()
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		return &Error{Script: name, Status: ee.ExitCode(), Tail: tail.lines()}
	}
	return fmt.Errorf("script %s: %w", name, werr)
}

// closed is a closed channel: follow copies what is there and stops.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// follow copies what is written to f into w until exited is closed, then
// copies what is there at that moment and stops: later writes come from
// the script's background jobs.
func follow(f *os.File, w io.Writer, exited <-chan struct{}) {
	buf := make([]byte, 32<<10)
	var off int64
	// drain copies up to end bytes (a job that writes faster than this
	// reads must not keep it busy forever).
	drain := func(end int64) {
		for off < end {
			n, err := f.ReadAt(buf[:min(int64(len(buf)), end-off)], off)
			if n > 0 {
				w.Write(buf[:n])
				off += int64(n)
			}
			if err != nil || n == 0 {
				return
			}
		}
	}
	size := func() int64 {
		fi, err := f.Stat()
		if err != nil {
			return off
		}
		return fi.Size()
	}
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		drain(size())
		select {
		case <-exited:
			drain(size())
			return
		case <-t.C:
		}
	}
}

// tailWriter keeps the last tailLines lines written to it, each as its
// first bytes and its length: a script that prints a megabyte without a
// newline still leaves a bounded tail and an exact count.
type tailWriter struct {
	mu   sync.Mutex
	done []tailLine // ended lines, the last tailLines
	cur  tailLine   // the line being written
}

// tailLine is one line of output: its first tailLineMax bytes and a few
// more (so that a cut can find a character's start), and its length.
type tailLine struct {
	head []byte
	n    int64
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for rest := p; len(rest) > 0; {
		part, after, ended := bytes.Cut(rest, []byte{'\n'})
		if room := tailLineMax + utf8.UTFMax - len(t.cur.head); room > 0 {
			t.cur.head = append(t.cur.head, part[:min(room, len(part))]...)
		}
		t.cur.n += int64(len(part))
		if !ended {
			break
		}
		if t.done = append(t.done, t.cur); len(t.done) > tailLines {
			t.done = t.done[1:]
		}
		t.cur, rest = tailLine{}, after
	}
	return len(p), nil
}

// lines returns the last lines, without trailing empty ones, each made fit
// for an error message (tailLine.short).
func (t *tailWriter) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	all := t.done
	if t.cur.n > 0 {
		all = append(all[:len(all):len(all)], t.cur)
	}
	for len(all) > 0 && all[len(all)-1].n == 0 {
		all = all[:len(all)-1]
	}
	all = all[max(0, len(all)-tailLines):]
	out := make([]string, len(all))
	for i, l := range all {
		out[i] = l.short()
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// tailLineMax is how much of one line of a failing script's output its
// error repeats; the log (scripts.log) has all of it.
const tailLineMax = 512

// short makes a line fit for an error message on a terminal: control
// characters are shown, not sent (a package's output must not move the
// user's cursor or recolour the terminal), and a line longer than
// tailLineMax bytes is cut, at a character's start, saying how much more
// it had.
func (l tailLine) short() string {
	if l.n <= tailLineMax {
		return visible(l.head)
	}
	n := cutAt(l.head, tailLineMax)
	return fmt.Sprintf("%s… (%d more bytes)", visible(l.head[:n]), l.n-int64(n))
}

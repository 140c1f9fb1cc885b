// Package script runs a package's install and uninstall scripts with /bin/sh
// and the DISTPAC_* environment of DESIGN.md §6.
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
)

// Env is what a script is told about its package.
type Env struct {
	Name, Version string
	PkgDir        string // the extracted package
	Prefix        string // where the user wants things installed
}

func (e Env) vars() []string {
	return []string{
		"DISTPAC_NAME=" + e.Name,
		"DISTPAC_VERSION=" + e.Version,
		"DISTPAC_PKGDIR=" + e.PkgDir,
		"DISTPAC_ASSETS=" + filepath.Join(e.PkgDir, "assets"),
		"DISTPAC_PREFIX=" + e.Prefix,
	}
}

// tailLines is how much of a failing script's output the error repeats.
const tailLines = 10

// Error is a script that ran and failed.
type Error struct {
	Script string
	Status int      // exit status; -1 when killed by a signal
	Tail   []string // its last lines of output
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s exited with status %d", e.Script, e.Status)
	if len(e.Tail) > 0 {
		msg += "; last output:\n    " + strings.Join(e.Tail, "\n    ")
	}
	return msg
}

// Run runs PkgDir/scripts/<name> (e.g. "install.sh") with the package as
// working directory. Output goes to out as it comes (out may be nil); the
// last lines are kept for the error. Cancelling ctx stops the script's whole
// process group.
func Run(ctx context.Context, name string, env Env, out io.Writer) error {
	path := filepath.Join(env.PkgDir, "scripts", name)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("script %s: %w", name, err)
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", path)
	cmd.Dir = env.PkgDir
	cmd.Env = append(os.Environ(), env.vars()...)
	cmd.Stdin = nil
	tail := &tailWriter{}
	w := io.Writer(tail)
	if out != nil {
		w = io.MultiWriter(out, tail)
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("script %s: %w", name, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &Error{Script: name, Status: ee.ExitCode(), Tail: tail.lines()}
	}
	return fmt.Errorf("script %s: %w", name, err)
}

// tailWriter keeps the last lines written to it.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 64<<10 {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-16<<10:]...)
	}
	return len(p), nil
}

func (t *tailWriter) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	all := strings.Split(string(bytes.TrimRight(t.buf, "\n")), "\n")
	if len(all) == 1 && all[0] == "" {
		return nil
	}
	if len(all) > tailLines {
		all = all[len(all)-tailLines:]
	}
	return all
}

package script

// The gate a script's process waits at until Env.Started has recorded its
// process group: what is recorded is there before the script's first
// effect, and a kill of dist-client before then leaves a process that
// ends without running the script.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// gated is the command that runs a script whose start Env.Started is told
// of: it waits for a line on fd 3, which gate.open writes once Started
// returned, writes it to fd 4 (Env.Mark) when it is not empty, says on
// fd 5 that it passed, and only then runs the script, without the three.
// The end of fd 3 without a line (Run's process gone, killed, say, or
// Started failed) ends it before the script, and so does a mark it
// cannot write (the disk full): then gate.open hears no "passed" and Run
// says the script did not start. Its status alone could not say it: a
// script may exit 125 too, and a full disk read "install.sh exited with
// status 125", whose uninstall.sh then ran for a script that never did.
const gated = `IFS= read -r mark <&3 || exit 125
exec 3<&-
if [ -n "$mark" ]; then printf '%s\n' "$mark" >&4 || exit 125; fi
exec 4>&-
printf 'passed\n' >&5 || exit 125
exec 5>&-
umask 022 && exec "$0" "$1"`

// passed is what the gate says on fd 5 as it lets the script run.
const passed = "passed\n"

// gate holds a script's process until Env.Started returns.
type gate struct {
	r, w *os.File // fd 3: the mark, or its end
	// pr, pw: fd 5, where the process says it passed.
	pr, pw *os.File
	env    Env
}

// holdAtGate makes cmd (Run's, not started) wait at a gate when
// env.Started is set; nil otherwise.
func holdAtGate(cmd *exec.Cmd, env Env) (*gate, error) {
	if env.Started == nil {
		return nil, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	cmd.Args[2] = gated
	// A nil Mark leaves fd 4 closed in the process.
	cmd.ExtraFiles = []*os.File{r, env.Mark, pw}
	return &gate{r: r, w: w, pr: pr, pw: pw, env: env}, nil
}

// open tells Env.Started the group of the started process and, when it
// returns nil, lets the process run the script; else the process ends.
func (g *gate) open(group Group) error {
	if g == nil {
		return nil
	}
	g.r.Close() // the process's now
	g.pw.Close()
	mark, err := g.env.Started(group)
	if g.env.Mark == nil {
		mark = ""
	}
	if err == nil {
		_, err = g.w.WriteString(mark + "\n")
	}
	if err = errors.Join(err, g.w.Close()); err != nil {
		return err
	}
	// Said just before the script runs, or the end of fd 5 when the
	// process ended at the gate.
	said, _ := io.ReadAll(io.LimitReader(g.pr, int64(len(passed))))
	if string(said) == passed {
		return nil
	}
	if mark != "" {
		return fmt.Errorf("%w: its process could not mark its start in %s", ErrNotStarted, g.env.Mark.Name())
	}
	return ErrNotStarted
}

func (g *gate) close() {
	if g != nil {
		g.r.Close()
		g.w.Close()
		g.pr.Close()
		g.pw.Close()
	}
}

// ErrNotStarted: the script's process ended at the gate, before the
// script: its start could not be marked (the disk full, say).
var ErrNotStarted = errors.New("did not start")

package script

// The gate a script's process waits at until Env.Started has recorded its
// process group: what is recorded is there before the script's first
// effect, and a kill of dist-client before then leaves a process that
// ends without running the script.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// gated is the command that runs a script whose start Env.Started is told
// of: it waits for a line on fd 3, which gate.open writes once Started
// returned, writes it to fd 4 (Env.Mark) when it is not empty, and only
// then runs the script, without the two. The end of fd 3 without a line
// (Run's process gone, killed, say, or Started failed) ends it before the
// script.
const gated = `IFS= read -r mark <&3 || exit 125
exec 3<&-
if [ -n "$mark" ]; then printf '%s\n' "$mark" >&4 2>/dev/null || { echo "` + unmarked + `" >&2; exit 125; }; fi
exec 4>&-
umask 022 && exec "$0" "$1"`

// unmarked is the line the gate writes, exiting 125, when it could not
// write the mark: Run then says the script did not run and why, not "exited
// with status 125" beside dash's "printf: I/O error" (a full disk).
const unmarked = "distpac: the script's start could not be recorded"

// notRun is Run's error for a script whose process could not write its
// mark (unmarked): the script did not run.
func (g *gate) notRun(name string, status int, tail []string) error {
	if g == nil || g.env.Mark == nil || status != 125 || len(tail) == 0 || tail[len(tail)-1] != unmarked {
		return nil
	}
	return fmt.Errorf("script %s: not run: its start could not be recorded in %s (is the disk full?)", name, g.env.Mark.Name())
}

// gate holds a script's process until Env.Started returns.
type gate struct {
	r, w *os.File
	env  Env
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
	cmd.Args[2] = gated
	cmd.ExtraFiles = []*os.File{r}
	if env.Mark != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, env.Mark)
	}
	return &gate{r: r, w: w, env: env}, nil
}

// open tells Env.Started the group of the started process and, when it
// returns nil, lets the process run the script; else the process ends.
func (g *gate) open(group Group) error {
	if g == nil {
		return nil
	}
	g.r.Close() // the process's now
	mark, err := g.env.Started(group)
	if g.env.Mark == nil {
		mark = ""
	}
	if err == nil {
		_, err = g.w.WriteString(mark + "\n")
	}
	return errors.Join(err, g.w.Close())
}

func (g *gate) close() {
	if g != nil {
		g.r.Close()
		g.w.Close()
	}
}

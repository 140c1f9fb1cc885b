package script

// The gate a script's process waits at until Env.Started has recorded its
// process group: what is recorded is there before the script's first
// effect, and a kill of dist-client before then leaves a process that
// ends without running the script.

import (
	"errors"
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
if [ -n "$mark" ]; then printf '%s\n' "$mark" >&4 || exit 125; fi
exec 4>&-
umask 022 && exec "$0" "$1"`

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

// Package ui is the one printer for user output: normal lines, quiet mode,
// --json, warnings on stderr, and progress bars only on a terminal and never
// when NO_COLOR is set.
package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/term"
)

// Printer writes user-facing output.
type Printer struct {
	Out, Err io.Writer
	Quiet    bool // only errors, warnings and requested data
	TTY      bool // Out is a terminal and NO_COLOR is unset: bars allowed
	// In is where Confirm reads answers; InTTY says it is a terminal
	// (NO_COLOR does not matter here: it is about colour, not questions).
	In    io.Reader
	InTTY bool
	// Verbose asks for details (-v): tables where a line is the default.
	Verbose bool
	// Scripts, when set, is where scripts' output goes instead of Out,
	// even when Quiet (--json keeps Out for its JSON and prints no text,
	// yet shows what install.sh says, on stderr).
	Scripts io.Writer
	// Columns is the terminal's width for the progress bar; 0 asks the
	// terminal Out is (80 when it does not say).
	Columns   int
	mu        sync.Mutex
	bar       *Progress // the bar being drawn, if any; guarded by mu
	wroteJSON bool      // JSON printed something; guarded by mu
}

// New makes a printer for the given streams, detecting a terminal.
func New(out, err io.Writer, quiet bool) *Printer {
	p := &Printer{Out: out, Err: err, Quiet: quiet}
	if IsTerminal(out) && os.Getenv("NO_COLOR") == "" {
		p.TTY = true
	}
	return p
}

// IsTerminal tells whether s is a terminal (a file whose descriptor is a
// TTY); pipes, files and buffers are not.
func IsTerminal(s any) bool {
	f, ok := s.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Printf prints progress and status lines (hidden by -q). A progress bar
// on the terminal is cleared first, so that the line does not land in the
// middle of it; the bar draws itself again below on its next update. After
// JSON it writes to Err: stdout then carries the JSON alone (add --json
// printed "the running server ... is still starting" after its JSON, which
// jq then refused).
func (p *Printer) Printf(format string, a ...any) {
	if p.Quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.clearLocked()
	}
	out := p.Out
	if p.wroteJSON {
		out = p.Err
	}
	fmt.Fprintf(out, format, a...)
}

// Dataf prints what the user asked for (shown even with -q).
func (p *Printer) Dataf(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.Out, format, a...)
}

// Warnf prints a warning on stderr. A progress bar on the terminal is
// cleared first, as for Printf: a warning while a download runs (a busy
// web seed) landed in the middle of it.
func (p *Printer) Warnf(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.clearLocked()
	}
	fmt.Fprintf(p.Err, "warning: "+format, a...)
}

// JSON prints v as indented JSON (shown even with -q). Text goes out as
// written: no HTML escaping, so "<2" in a constraint stays "<2", not
// "\u003c2", for jq and for people.
func (p *Printer) JSON(v any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wroteJSON = true
	enc := json.NewEncoder(p.Out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WroteJSON reports whether JSON printed anything: cli.Run prints a
// failed --json command's error as JSON when it did not.
func (p *Printer) WroteJSON() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wroteJSON
}

// ScriptOutput is where scripts' output is shown: nowhere with -q. The
// caller keeps it in the script log either way (script.Log).
func (p *Printer) ScriptOutput() io.Writer {
	if p.Scripts != nil {
		return p.Scripts
	}
	if p.Quiet {
		return nil
	}
	return p.Out
}

// setBar records the bar being drawn, for Printf.
func (p *Printer) setBar(b *Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar = b
}

// columns is the width the progress bar fits in.
func (p *Printer) columns() int {
	if p.Columns > 0 {
		return p.Columns
	}
	if c := terminalColumns(p.Out); c > 0 {
		return c
	}
	return defaultColumns
}

// DrawsProgress reports whether NewProgress draws a bar (a terminal with
// NO_COLOR unset, not quiet); otherwise progress is never shown, only the
// summary.
func (p *Printer) DrawsProgress() bool { return p.TTY && !p.Quiet }

// Count is n and a noun, plural unless n is 1: "1 archive", "2 archives".
// The plural is the noun with an s.
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

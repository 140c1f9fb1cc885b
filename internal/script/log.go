package script

// The script log: every script's output, shown on the terminal or not (-q),
// is appended to one file, as pacman keeps scriptlet output in pacman.log.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/distpac/distpac/internal/units"
)

// DefaultLogMax is the size past which the log is rotated to Path.1: the
// two files never hold much more than twice this, whatever a script prints
// (a script that prints a megabyte a second still cannot fill a disk).
const DefaultLogMax = 1 << 20

// A run's share of the log: the first runShare/2 bytes of its lines and
// the last runShare/2, with a line saying how much was left out between
// them. Without it one chatty script (an attacker's run: 400 MB of
// output) rotated the log hundreds of times and took every other
// script's lines with it, so that the log said nothing of the packages
// installed before it; what goes wrong is nearly always at the start
// (the set-up it reports) or at the end (the failure).
func (l *Log) runShare() int64 { return l.max() / 4 }

// maxLogLine cuts a longer line of output into several log lines, each
// prefixed: a script that prints without newlines still writes bounded
// lines (one write each, so appends of two processes never mix within a
// line).
const maxLogLine = 4 << 10

// Log appends the output of scripts to the file at Path, each line as
// "TIME NAME VERSION SCRIPT: TEXT" (TIME in UTC, RFC 3339), and a line
// "TIME NAME VERSION SCRIPT exited with status N" (or how else it ended)
// when the script ends. Control characters other than tab are written
// visibly (\x1b, \r), so that reading the log replays no terminal codes.
// A failure to write is reported once through Warn and never fails the
// script. A Log is safe for concurrent use.
type Log struct {
	Path string
	Max  int64                         // rotate past this size (0: DefaultLogMax)
	Now  func() time.Time              // nil: time.Now
	Warn func(format string, a ...any) // nil: failures go unreported

	mu     sync.Mutex // guards warned and serialises the runs' writes
	warned bool
}

// logRun is one script's output on its way into the log.
type logRun struct {
	l      *Log
	head   string // "NAME VERSION SCRIPT"
	f      *os.File
	size   int64  // of the file as this run knows it
	buf    []byte // a line not yet ended
	failed bool

	written  int64    // bytes of this run's lines written so far
	tail     [][]byte // past the first half of its share: its last lines, formatted
	tailSize int64    // their bytes
	leftOut  int      // lines dropped from the front of tail
	leftSize int64    // their bytes
}

// start opens the log for one run of script.
func (l *Log) start(name, version, script string) *logRun {
	r := &logRun{l: l, head: name + " " + version + " " + script}
	l.mu.Lock()
	defer l.mu.Unlock()
	r.open()
	return r
}

func (l *Log) max() int64 {
	if l.Max > 0 {
		return l.Max
	}
	return DefaultLogMax
}

func (l *Log) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// fail stops this run's logging and warns, once for the Log. l.mu is held.
func (r *logRun) fail(err error) {
	r.failed = true
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	if !r.l.warned && r.l.Warn != nil {
		r.l.Warn("script output is not logged: %v\n", err)
	}
	r.l.warned = true
}

// open opens the file for appending. l.mu is held.
func (r *logRun) open() {
	if err := os.MkdirAll(filepath.Dir(r.l.Path), 0o755); err != nil {
		r.fail(err)
		return
	}
	// O_APPEND: every write lands at the end, so the lines of two
	// processes (each line one write) never interleave within a line.
	// O_NONBLOCK: a FIFO there would block the open until a reader came
	// (an attacker's run hung install); it is refused below.
	f, err := os.OpenFile(r.l.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		r.fail(err)
		return
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: not a regular file", r.l.Path)
	}
	if err != nil {
		f.Close()
		r.fail(err)
		return
	}
	r.f, r.size = f, fi.Size()
}

// Write takes output as it comes and logs each whole line; it never fails.
func (r *logRun) Write(p []byte) (int, error) {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	r.buf = append(r.buf, p...)
	for !r.failed {
		i := bytes.IndexByte(r.buf, '\n')
		// A line of exactly maxLogLine bytes waits for the byte after it:
		// cut at once, its newline would make an empty line of its own.
		if i < 0 && len(r.buf) <= maxLogLine {
			break
		}
		n := i + 1
		if i < 0 || i > maxLogLine {
			n = cutAt(r.buf, maxLogLine)
			i = n
		}
		r.line(": " + visible(r.buf[:i]))
		r.buf = r.buf[n:]
	}
	if r.failed {
		r.buf = nil
	}
	return len(p), nil
}

// cutAt is where to cut a line longer than most bytes (b holds at least
// its first most+1): at most, or before a UTF-8 character that would
// straddle it, so that the character is not split (and shown as \xNN).
func cutAt(b []byte, most int) int {
	n := most
	for n > most-(utf8.UTFMax-1) && !utf8.RuneStart(b[n]) {
		n--
	}
	// A character begun at n and not whole before most straddles it; an
	// invalid byte there is "whole" (one \xNN), and the cut stays at most.
	if n < most && !utf8.FullRune(b[n:most]) {
		return n
	}
	return most
}

// end logs what is left of the output and how the script ended.
func (r *logRun) end(err error) {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	if len(r.buf) > 0 && !r.failed {
		r.line(": " + visible(r.buf))
	}
	r.buf = nil
	if r.leftOut > 0 {
		r.write(formatLine(r.l.now(), r.head, fmt.Sprintf(" printed %d more lines (%s) here, left out of the log: a run keeps its first and last %s",
			r.leftOut, units.FormatBytes(r.leftSize), units.FormatBytes(r.l.runShare()/2))))
	}
	for _, b := range r.tail {
		r.write(b)
	}
	r.tail = nil
	if !r.failed {
		r.write(formatLine(r.l.now(), r.head, " "+ending(err)))
	}
	if r.f != nil {
		if err := r.f.Close(); err != nil && !r.failed {
			r.fail(err)
		}
		r.f = nil
	}
}

// ok reports whether the run's output reached the log, and whether some
// of it was left out (runShare).
func (r *logRun) ok() (logged, trimmed bool) {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	return !r.failed, r.leftOut > 0
}

// line logs "TIME HEAD" + rest, a line of output: written while the run
// is in the first half of its share, else kept among its last lines,
// which end writes. l.mu is held.
func (r *logRun) line(rest string) {
	if r.failed {
		return
	}
	b := formatLine(r.l.now(), r.head, rest)
	half := r.l.runShare() / 2
	if r.written < half {
		r.write(b)
		return
	}
	r.tail = append(r.tail, b)
	r.tailSize += int64(len(b))
	for r.tailSize > half && len(r.tail) > 1 {
		r.leftOut++
		r.leftSize += int64(len(r.tail[0]))
		r.tailSize -= int64(len(r.tail[0]))
		r.tail[0] = nil
		r.tail = r.tail[1:]
	}
}

// write appends one formatted line to the file, rotating first when it
// would take the file past the limit. l.mu is held.
func (r *logRun) write(b []byte) {
	if r.failed {
		return
	}
	r.written += int64(len(b))
	if r.size > 0 && r.size+int64(len(b)) > r.l.max() {
		r.rotate()
		if r.failed {
			return
		}
	}
	n, err := r.f.Write(b)
	r.size += int64(n)
	if err != nil {
		r.fail(err)
	}
}

// rotate moves the log to Path.1 (replacing it) and starts a new one.
// When another process rotated it first, Path is already a new file:
// this run goes on in that one. l.mu is held.
func (r *logRun) rotate() {
	fi, err := r.f.Stat()
	if err != nil {
		r.fail(err)
		return
	}
	if cur, err := os.Stat(r.l.Path); err == nil && os.SameFile(fi, cur) {
		if err := os.Rename(r.l.Path, r.l.Path+".1"); err != nil {
			r.fail(err)
			return
		}
	}
	r.f.Close()
	r.f = nil
	r.open()
}

// formatLine is one line of the log.
func formatLine(t time.Time, head, rest string) []byte {
	return []byte(t.UTC().Format("2006-01-02T15:04:05Z") + " " + head + rest + "\n")
}

// ending says how a run ended, for its last line in the log.
func ending(err error) string {
	var se *Error
	switch {
	case err == nil:
		return "exited with status 0"
	case errors.As(err, &se):
		return se.ended()
	}
	return "ended: " + visible([]byte(err.Error()))
}

// visible is b with every control character but tab written as an escape
// (\x1b, \r, \u0085), and bytes that are not UTF-8 as \xNN.
func visible(b []byte) string {
	var s strings.Builder
	for len(b) > 0 {
		c, n := utf8.DecodeRune(b)
		switch {
		case c == utf8.RuneError && n == 1:
			fmt.Fprintf(&s, `\x%02x`, b[0])
		case c == '\t':
			s.WriteRune(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&s, `\x%02x`, c)
		case c >= 0x80 && c < 0xa0:
			fmt.Fprintf(&s, `\u%04x`, c)
		default:
			s.Write(b[:n])
		}
		b = b[n:]
	}
	return s.String()
}

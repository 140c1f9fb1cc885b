package script

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/units"
)

var logClock = func() time.Time { return time.Date(2026, 11, 30, 12, 0, 5, 0, time.FixedZone("CET", 3600)) }

const stamp = "2026-11-30T11:00:05Z" // logClock in UTC

func TestLogLines(t *testing.T) {
	long := strings.Repeat("x", maxLogLine)
	tests := []struct {
		name   string
		chunks []string
		err    error
		want   []string // lines after the stamp and "foo 1.2.3 install.sh"
	}{
		{"lines", []string{"one\ntwo\n"}, nil, []string{": one", ": two", " exited with status 0"}},
		{"a line in pieces", []string{"hel", "lo wor", "ld\n"}, nil, []string{": hello world", " exited with status 0"}},
		{"unended last line", []string{"done\nno newline"}, nil, []string{": done", ": no newline", " exited with status 0"}},
		{"empty line", []string{"\n"}, nil, []string{": ", " exited with status 0"}},
		{"tab kept, controls visible", []string{"a\tb\r\x1b[31mred\x7f\x00\n"}, nil, []string{": a\tb\\x0d\\x1b[31mred\\x7f\\x00", " exited with status 0"}},
		{"C1 control and bad UTF-8", []string{"\u0085x\xff\xfeé✓\n"}, nil, []string{": \\u0085x\\xff\\xfeé✓", " exited with status 0"}},
		{"long line cut", []string{long + "tail\n"}, nil, []string{": " + long, ": tail", " exited with status 0"}},
		{"line of the most in pieces", []string{long[:10], long[10:], "\n"}, nil, []string{": " + long, " exited with status 0"}},
		{"longer line in pieces", []string{long[:10], long[10:], "ab", "\n"}, nil, []string{": " + long, ": ab", " exited with status 0"}},
		{"character across the cut", []string{long[:maxLogLine-1] + "é✓\n"}, nil, []string{": " + long[:maxLogLine-1], ": é✓", " exited with status 0"}},
		{"4-byte character across the cut", []string{long[:maxLogLine-2], "😀", "z\n"}, nil, []string{": " + long[:maxLogLine-2], ": 😀z", " exited with status 0"}},
		{"character just fits", []string{long[:maxLogLine-2] + "é", "z\n"}, nil, []string{": " + long[:maxLogLine-2] + "é", ": z", " exited with status 0"}},
		{"bad UTF-8 across the cut", []string{long[:maxLogLine-1] + "\x80\x80z\n"}, nil, []string{": " + long[:maxLogLine-1] + "\\x80", ": \\x80z", " exited with status 0"}},
		{"failure", []string{"oops\n"}, &Error{Script: "install.sh", Status: 3}, []string{": oops", " exited with status 3"}},
		{"timeout", nil, &Error{Script: "install.sh", Status: -1, TimedOut: time.Minute}, []string{" timed out after 1m0s and was killed"}},
		{"other error", nil, errors.New("script install.sh: context canceled\x1b"), []string{" ended: script install.sh: context canceled\\x1b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &Log{Path: filepath.Join(t.TempDir(), "scripts.log"), Now: logClock}
			r := l.start("foo", "1.2.3", "install.sh")
			for _, c := range tt.chunks {
				if n, err := r.Write([]byte(c)); n != len(c) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			r.end(tt.err)
			var want strings.Builder
			for _, w := range tt.want {
				want.WriteString(stamp + " foo 1.2.3 install.sh" + w + "\n")
			}
			if got, _ := os.ReadFile(l.Path); string(got) != want.String() {
				t.Fatalf("log:\n%q\nwant:\n%q", got, want.String())
			}
		})
	}
}

// TestLogRotation: the log moves to Path.1 when a line would take it past
// Max; each run here prints one line.
func TestLogRotation(t *testing.T) {
	run := func(i int) string { // 45 + 57 bytes
		return fmt.Sprintf("%s a 1 install.sh: line %02d\n%s a 1 install.sh exited with status 0\n", stamp, i, stamp)
	}
	tests := []struct {
		name        string
		existing    string // in scripts.log before
		existing1   string // in scripts.log.1 before
		max         int64
		runs        int
		want, want1 string
	}{
		{"under the limit", "", "", 1000, 3, run(0) + run(1) + run(2), ""},
		{"rotates past the limit", "", "", 204, 5, run(4), run(2) + run(3)},
		{"an old log rotates at once", strings.Repeat("o", 102), "older", 102, 1, run(0), strings.Repeat("o", 102)},
		{"a line bigger than the limit still goes in", "", "", 10, 1, run(0)[45:], run(0)[:45]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := &Log{Path: filepath.Join(dir, "scripts.log"), Max: tt.max, Now: logClock}
			if tt.existing != "" {
				os.WriteFile(l.Path, []byte(tt.existing), 0o600)
			}
			if tt.existing1 != "" {
				os.WriteFile(l.Path+".1", []byte(tt.existing1), 0o600)
			}
			for i := range tt.runs {
				r := l.start("a", "1", "install.sh")
				r.Write(fmt.Appendf(nil, "line %02d\n", i))
				r.end(nil)
			}
			got, _ := os.ReadFile(l.Path)
			got1, _ := os.ReadFile(l.Path + ".1")
			if string(got) != tt.want || string(got1) != tt.want1 {
				t.Fatalf("scripts.log:\n%s\nscripts.log.1:\n%s\nwant:\n%s\nand:\n%s", got, got1, tt.want, tt.want1)
			}
		})
	}
}

// TestLogRunShare: a run that prints much keeps its first and last lines
// in the log and says how much it left out between them, so that the
// lines of the runs before it stay (one chatty script rotated them away).
func TestLogRunShare(t *testing.T) {
	dir := t.TempDir()
	l := &Log{Path: filepath.Join(dir, "scripts.log"), Max: 4000, Now: logClock} // a run's share 1000 bytes
	r := l.start("a", "1", "install.sh")
	r.Write([]byte("before\n"))
	r.end(nil)
	r = l.start("b", "2", "install.sh")
	for i := range 100_000 {
		r.Write(fmt.Appendf(nil, "line %06d\n", i)) // 49 bytes in the log
	}
	r.end(&Error{Script: "install.sh", Status: 1})
	var want strings.Builder
	want.WriteString(stamp + " a 1 install.sh: before\n" + stamp + " a 1 install.sh exited with status 0\n")
	for i := range 11 { // while under half the share (500 bytes): 11 lines of 49
		fmt.Fprintf(&want, "%s b 2 install.sh: line %06d\n", stamp, i)
	}
	fmt.Fprintf(&want, "%s b 2 install.sh printed %d more lines (%s) here, left out of the log: a run keeps its first and last 500 B\n",
		stamp, 100_000-11-10, units.FormatBytes((100_000-11-10)*49))
	for i := 100_000 - 10; i < 100_000; i++ { // the last 500 bytes: 10 lines
		fmt.Fprintf(&want, "%s b 2 install.sh: line %06d\n", stamp, i)
	}
	want.WriteString(stamp + " b 2 install.sh exited with status 1\n")
	if got, _ := os.ReadFile(l.Path); string(got) != want.String() {
		t.Fatalf("log:\n%s\nwant:\n%s", got, want.String())
	}
	if _, err := os.Stat(l.Path + ".1"); err == nil {
		t.Fatalf("the log was rotated")
	}
	if logged, trimmed := r.ok(); !logged || !trimmed {
		t.Fatalf("ok() = %v, %v; want logged and trimmed", logged, trimmed)
	}
}

// TestLogUnwritable: a log that cannot be written warns once, however many
// scripts run, and never fails a script.
func TestLogUnwritable(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var warnings []string
	l := &Log{Path: filepath.Join(dir, "scripts.log", "inside-a-file"), Warn: func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		warnings = append(warnings, fmt.Sprintf(f, a...))
	}}
	os.WriteFile(filepath.Join(dir, "scripts.log"), nil, 0o600)
	for range 3 {
		env := pkg(t, "echo hello; exit 2")
		env.Log = l
		var out strings.Builder
		err := Run(context.Background(), "install.sh", env, &out)
		var se *Error
		if !errors.As(err, &se) || se.Status != 2 || out.String() != "hello\n" {
			t.Fatalf("Run = %v, output %q", err, out.String())
		}
		if strings.Contains(err.Error(), "all of it in") {
			t.Fatalf("the error points at a log that was not written: %v", err)
		}
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "script output is not logged: ") {
		t.Fatalf("warnings %q", warnings)
	}
}

// TestRunLogs: Run keeps the output in the log when nothing shows it, and
// a failing script's error says where all of its output is.
func TestRunLogs(t *testing.T) {
	l := &Log{Path: filepath.Join(t.TempDir(), "scripts.log"), Now: logClock}
	env := pkg(t, "echo out; echo err >&2; exit 4")
	env.Log = l
	err := Run(context.Background(), "install.sh", env, nil)
	if err == nil || !strings.Contains(err.Error(), "install.sh exited with status 4; last output (all of it in "+l.Path+"):\n    out\n    err") {
		t.Fatalf("err = %v", err)
	}
	want := stamp + " foo 1.2.3 install.sh: out\n" + stamp + " foo 1.2.3 install.sh: err\n" + stamp + " foo 1.2.3 install.sh exited with status 4\n"
	if got, _ := os.ReadFile(l.Path); string(got) != want {
		t.Fatalf("log %q, want %q", got, want)
	}
}

// TestRunLogsTrimmed: the error of a failing script that printed more than
// its share of the log says that the log holds only its first and last
// lines.
func TestRunLogsTrimmed(t *testing.T) {
	l := &Log{Path: filepath.Join(t.TempDir(), "scripts.log"), Max: 4000, Now: logClock}
	env := pkg(t, "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done; exit 4")
	env.Log = l
	err := Run(context.Background(), "install.sh", env, nil)
	if err == nil || !strings.Contains(err.Error(), "install.sh exited with status 4; last output (its first and last lines in "+l.Path+"):\n") {
		t.Fatalf("err = %v", err)
	}
	got, _ := os.ReadFile(l.Path)
	if !strings.Contains(string(got), "foo 1.2.3 install.sh: line 199\n") || !strings.Contains(string(got), " more lines (") {
		t.Fatalf("log %s", got)
	}
}

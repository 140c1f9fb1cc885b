package ui

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestJSONKeepsTextAsWritten(t *testing.T) {
	var out bytes.Buffer
	p := New(&out, &bytes.Buffer{}, false)
	if err := p.JSON(map[string]string{"depends": "libfoo >=1.2, <2 & more"}); err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"depends\": \"libfoo >=1.2, <2 & more\"\n}\n"
	if out.String() != want {
		t.Errorf("JSON printed %q, want %q", out.String(), want)
	}
}

// TestStatusAfterJSON: a status line printed after a command's JSON goes
// to stderr, so that stdout stays one JSON document (add --json while the
// running server was starting printed a line after it).
func TestStatusAfterJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	p := New(&out, &errOut, false)
	p.Printf("before\n")
	if err := p.JSON([]string{"a"}); err != nil {
		t.Fatal(err)
	}
	p.Printf("the running server is still starting\n")
	if want := "before\n[\n  \"a\"\n]\n"; out.String() != want {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
	if want := "the running server is still starting\n"; errOut.String() != want {
		t.Errorf("stderr %q, want %q", errOut.String(), want)
	}
}

func TestTable(t *testing.T) {
	tests := []struct {
		name   string
		header []string
		rows   [][]string
		want   string
	}{
		{"aligned", []string{"NAME", "VERSION"}, [][]string{{"hello", "1.0.0"}, {"libgreet-extra", "10.2.3"}},
			"NAME            VERSION\nhello           1.0.0\nlibgreet-extra  10.2.3\n"},
		{"header only", []string{"NAME", "VERSION"}, nil, "NAME  VERSION\n"},
		// A row whose last cells are empty ends at its text, with no
		// padding after it.
		{"empty last cells", []string{"NAME", "VERSION", "NOTE"}, [][]string{{"hello", "1.0.0", ""}, {"libgreet", "1.0.0", "held"}},
			"NAME      VERSION  NOTE\nhello     1.0.0\nlibgreet  1.0.0    held\n"},
		// A description with a tab and a newline must not make a column
		// or a row of its own.
		{"control characters", []string{"NAME", "DESCRIPTION"}, [][]string{{"x", "a\tb\nfake  row\x1b[2J"}},
			"NAME  DESCRIPTION\nx     a b fake  row [2J\n"},
		// Bidirectional overrides and isolates would show the text in
		// another order than it is stored; the joiner Persian needs stays.
		{"bidi controls", []string{"NAME", "DESCRIPTION"}, [][]string{{"x", "safe tool \u202egnp.exe \u2067a\u2069 \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"}},
			"NAME  DESCRIPTION\nx     safe tool  gnp.exe  a  \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			p := New(&out, &bytes.Buffer{}, true) // data shows even with -q
			if err := p.Table(tt.header, tt.rows); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", out.String(), tt.want)
			}
		})
	}
}

func TestFields(t *testing.T) {
	var out bytes.Buffer
	p := New(&out, &bytes.Buffer{}, false)
	if err := p.Fields([][2]string{{"Name", "hello"}, {"Download size", "604 B"}, {"Description", "two\nlines"}}); err != nil {
		t.Fatal(err)
	}
	want := "Name          : hello\nDownload size : 604 B\nDescription   : two lines\n"
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
}

func TestConfirm(t *testing.T) {
	tests := []struct {
		input string
		want  bool
	}{
		{"y\n", true},
		{"YES\n", true},
		{"  yes  \n", true},
		{"n\n", false},
		{"\n", false}, // the default is no
		{"", false},   // Ctrl-D
		{"yes", true}, // no newline before the end
		{"yeah\n", false},
		{strings.Repeat("y", 1000) + "\n", false}, // cut, never buffered whole
	}
	for _, tt := range tests {
		var errOut bytes.Buffer
		p := New(&bytes.Buffer{}, &errOut, false)
		p.In, p.InTTY = strings.NewReader(tt.input), true
		got, err := p.Confirm("Remove 2 versions?")
		if err != nil {
			t.Fatalf("%q: %v", tt.input, err)
		}
		if got != tt.want {
			t.Errorf("answer %q: got %v, want %v", tt.input, got, tt.want)
		}
		if !strings.HasPrefix(errOut.String(), "Remove 2 versions? [y/N] ") {
			t.Errorf("answer %q: prompt %q", tt.input, errOut.String())
		}
	}
}

func TestConfirmWithoutTerminal(t *testing.T) {
	var errOut bytes.Buffer
	p := New(&bytes.Buffer{}, &errOut, false)
	p.In = strings.NewReader("y\n") // a pipe saying yes is not a user saying yes
	if ok, err := p.Confirm("Remove?"); ok || !errors.Is(err, ErrNoTerminal) {
		t.Errorf("Confirm without a terminal = %v, %v; want false, ErrNoTerminal", ok, err)
	}
	if errOut.Len() != 0 {
		t.Errorf("asked %q without a terminal", errOut.String())
	}
}

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 archives"}, {1, "1 archive"}, {2, "2 archives"}, {-1, "-1 archives"}} {
		if got := Count(tc.n, "archive"); got != tc.want {
			t.Errorf("Count(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestUntrusted: text from outside is shown as it is when a terminal only
// prints it (non-ASCII letters and the joiner Persian needs included: not
// escaped twice), quoted with its control characters, bidirectional
// controls and bytes that are not UTF-8 escaped otherwise, and cut past
// the limit between runes, saying how long it was.
func TestUntrusted(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		limit    int
		want     string
	}{
		{"honest", `daemon: bad request: progress_ms "x" is not a number`, 100, `daemon: bad request: progress_ms "x" is not a number`},
		{"letters of other scripts", "café \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", 100, "café \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"},
		{"already escaped", `refused: "\x1b[2J"`, 100, `refused: "\x1b[2J"`},
		{"escape sequences", "failed: \x1b[2J\x1b[31mred\x1b[0m\r\x07", 100, `"failed: \x1b[2J\x1b[31mred\x1b[0m\r\a"`},
		{"a newline", "one\ntwo", 100, `"one\ntwo"`},
		{"C1 control (CSI)", "a\u009b2Jb", 100, `"a\u009b2Jb"`},
		{"bidi override", "safe \u202egnp.exe", 100, `"safe \u202egnp.exe"`},
		{"not UTF-8", "a\xffb", 100, `"a\xffb"`},
		{"long", strings.Repeat("B", 50), 10, "BBBBBBBBBB…(50 bytes)"},
		{"long, cut between runes", "aéééé", 4, "aé…(9 bytes)"},
		{"long and hostile", "\x1b[2J" + strings.Repeat("B", 50), 6, `"\x1b[2JBB"…(54 bytes)`},
		{"exactly the limit", "abcd", 4, "abcd"},
	} {
		if got := Untrusted(tc.in, tc.limit); got != tc.want {
			t.Errorf("%s: Untrusted(%q, %d) = %q, want %q", tc.name, tc.in, tc.limit, got, tc.want)
		}
	}
}

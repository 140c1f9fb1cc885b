package archive

import (
	"strings"
	"testing"
)

// Member names: control characters are refused (an attacker's run added a
// file whose name held a newline and escapes, which dist-client files then
// printed raw), as are NUL, absolute names and ".." components.
func TestCleanName(t *testing.T) {
	for _, tc := range []struct{ name, want, err string }{
		{"bin/tool", "bin/tool", ""},
		{"./bin//tool/", "bin/tool", ""},
		{".", ".", ""},
		{"bin/t\nol", "", `control character '\n'`},
		{"bin/\x1b[31mred", "", `control character '\x1b'`},
		{"bin/del\x7f", "", `control character '\x7f'`},
		{"bin/a\x00b", "", "NUL byte"},
		{"/etc/passwd", "", "absolute path"},
		{"a/../b", "", `".." component`},
		{"", "", "empty name"},
		{"bin/ünïcode", "bin/ünïcode", ""},
		{"bin/csi\u009b31m", "", `control character '\u009b'`},
		{"bin/bad\xff", "", "not valid UTF-8"},
	} {
		got, err := cleanName(tc.name)
		if tc.err == "" && (err != nil || got != tc.want) || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("cleanName(%q) = %q, %v; want %q, error with %q", tc.name, got, err, tc.want, tc.err)
		}
	}
}

// The bounds of a path, the same at add (Scan, Write) and install
// (Extract): MaxPathLen bytes, MaxNameLen a component, MaxDepth levels.
func TestCleanNameBounds(t *testing.T) {
	name255 := strings.Repeat("n", MaxNameLen)
	atLen := strings.Repeat(name255+"/", 15) + strings.Repeat("m", 99) + "/" + strings.Repeat("z", 155) // 4,095 bytes
	for _, tc := range []struct{ name, err string }{
		{atLen, ""},
		{atLen + "y", "path longer than 4095 bytes"},
		{"assets/" + strings.Repeat("b", 300), `name bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb…(300 bytes) longer than 255 bytes`},
		{"assets/" + name255, ""},
		{strings.Repeat("d/", MaxDepth-1) + "f", ""},
		{strings.Repeat("d/", MaxDepth) + "f", "path 129 levels deep, more than 128"},
		{strings.Repeat("d/", 1000) + "f", "path 1001 levels deep, more than 128"},
		// Empty and "." components are no levels.
		{strings.Repeat("./", 100) + strings.Repeat("d//", 100) + "f", ""},
	} {
		_, err := cleanName(tc.name)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || err.Error() != tc.err) {
			t.Errorf("cleanName(%s) = %v, want error %q", shortName(tc.name), err, tc.err)
		}
	}
}

func TestShortName(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"assets/bin/tool", "assets/bin/tool"},
		{strings.Repeat("a", 100), strings.Repeat("a", 100)},
		{strings.Repeat("a", 5000), strings.Repeat("a", 40) + "…(5000 bytes)"},
		// Cut between runes: "é" is two bytes, the 40th byte is inside one.
		{"a" + strings.Repeat("é", 100), "a" + strings.Repeat("é", 19) + "…(201 bytes)"},
	} {
		if got := shortName(tc.name); got != tc.want {
			t.Errorf("shortName(%d bytes) = %q, want %q", len(tc.name), got, tc.want)
		}
	}
}

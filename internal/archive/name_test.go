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

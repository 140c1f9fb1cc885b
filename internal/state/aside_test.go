package state

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestSaveName: a kept file's name is cut to fit NAME_MAX with its suffix,
// and its path PATH_MAX, at a character's boundary, and the journal's
// check (isSaveName) takes exactly the names SaveName gives.
func TestSaveName(t *testing.T) {
	long := strings.Repeat("c", 250)
	wide := strings.Repeat("é", 124) + "x" // 249 bytes; é is 2
	deep := "/" + strings.Repeat(strings.Repeat("d", 200)+"/", 20)
	deep += strings.Repeat("d", maxPathLen-len(deep)-41) + "/" // a name of 30 bytes in it ends at 4085
	name30 := strings.Repeat("s", 25) + ".conf"
	tests := []struct {
		src  string
		n    int
		want string
	}{
		{"/p/etc/app.conf", 0, "/p/etc/app.conf.distpac-save"},
		{"/p/etc/app.conf", 3, "/p/etc/app.conf.distpac-save.3"},
		{"/p/" + long, 0, "/p/" + long[:242] + ".distpac-save"},
		{"/p/" + long, 12, "/p/" + long[:239] + ".distpac-save.12"},
		{"/p/" + wide, 0, "/p/" + strings.Repeat("é", 121) + ".distpac-save"}, // 242 bytes would split an é
		{deep + name30, 0, deep + name30[:27] + ".distpac-save"},              // 4098 bytes
		{deep + name30, 12, deep + name30[:24] + ".distpac-save.12"},
	}
	for _, tt := range tests {
		got := SaveName(tt.src, tt.n)
		if got != tt.want {
			t.Errorf("SaveName(%.20q…, %d) = %q\nwant %q", tt.src, tt.n, got, tt.want)
		}
		if b := filepath.Base(got); len(b) > nameMax || len(got) > maxPathLen || !utf8.ValidString(b) {
			t.Errorf("SaveName(%.20q…, %d): name of %d bytes, valid UTF-8 %v", tt.src, tt.n, len(b), utf8.ValidString(b))
		}
		if !isSaveName(tt.src, got) {
			t.Errorf("isSaveName refuses SaveName(%.20q…, %d)", tt.src, tt.n)
		}
	}
	for _, bad := range []struct{ src, dst string }{
		{"/p/etc/app.conf", "/p/etc/app.conf.distpac-save.0"},
		{"/p/etc/app.conf", "/p/etc/app.conf.distpac-save.01"},
		{"/p/etc/app.conf", "/p/etc/app.conf.distpac-save.x"},
		{"/p/etc/app.conf", "/p/etc/app.con.distpac-save"},    // cut with no need
		{"/p/etc/app.conf", "/p/other/app.conf.distpac-save"}, // another directory
		{"/p/" + long, "/p/" + long[:241] + ".distpac-save"},  // cut more than needed
		{deep + name30, deep + name30[:26] + ".distpac-save"}, // cut more than needed
	} {
		if isSaveName(bad.src, bad.dst) {
			t.Errorf("isSaveName(%.20q…, %.30q…) = true", bad.src, bad.dst)
		}
	}
}

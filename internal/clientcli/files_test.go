package clientcli

import (
	"testing"

	"github.com/distpac/distpac/internal/installed"
	"github.com/distpac/distpac/internal/place"
)

// TestVerifyHint: verify's hint names install --reinstall for the
// packages it mends, and not for a path not checked (its directory
// another user could swap), which install refuses to place as well.
// Before, every package with a problem was told to reinstall.
func TestVerifyHint(t *testing.T) {
	changed := place.Problem{Path: "/p/bin/app", What: "content changed (SHA-256 differs)"}
	unchecked := place.Problem{Path: "/p/svc/sub/conf", What: "not checked: its directory /p/svc/sub is under /p/svc, ...", NotChecked: true}
	const reinstall = "dist-client install --reinstall "
	const byHand = "a path not checked lies under a directory another user can change, where install --reinstall places nothing either: check what is there and move it by hand, as its line says"
	tests := []struct {
		name string
		res  []installed.Verified
		want string
	}{
		{"a changed file", []installed.Verified{{Name: "app", Problems: []place.Problem{changed}}},
			reinstall + "app places the recorded files again (replacing a file changed on purpose: keep a copy first)"},
		{"a path not checked alone", []installed.Verified{{Name: "svc", Problems: []place.Problem{unchecked}}}, byHand},
		{"both, in two packages", []installed.Verified{{Name: "app", Problems: []place.Problem{changed}}, {Name: "svc", Problems: []place.Problem{unchecked}}, {Name: "fine"}},
			reinstall + "app places the recorded files again (replacing a file changed on purpose: keep a copy first); " + byHand},
	}
	for _, tt := range tests {
		if got := verifyHint(tt.res); got != tt.want {
			t.Errorf("%s: verifyHint = %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

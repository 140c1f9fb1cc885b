package resolve

import (
	"strings"
	"testing"
)

// TestFreeExplanationOrder: an explanation for a request with Free lists
// versions oldest first, as for any other request: those available, and
// those tried and grouped (search tries an installed Free version first).
func TestFreeExplanationOrder(t *testing.T) {
	for _, tt := range []struct {
		cat  catalog
		want string
	}{
		{mkCatalog(pv("app 2.0.0", "libfoo ^3"), pv("libfoo 1.0.0"), pv("libfoo 1.1.0"), pv("libfoo 2.0.0"), pv("libfoo 2.1.0")),
			"1.0.0, 1.1.0, 2.0.0, 2.1.0"},
		{mkCatalog(pv("app 1.0.0", "libfoo", "libbar ^2"), pv("libfoo 1.1.0", "libbar ^1"), pv("libfoo 2.0.0", "libbar ^1"), pv("libfoo 2.1.0", "libbar ^1"), pv("libbar 1.0.0"), pv("libbar 2.0.0")),
			"every version of libfoo (1.1.0, 2.0.0, 2.1.0)"},
	} {
		for _, free := range []bool{false, true} {
			req := Request{Deps: reqOf("app").Deps, Installed: inst("libfoo 1.1.0 auto")}
			if free {
				req.Free = map[string]bool{"libfoo": true}
			} else {
				req.Upgrade = map[string]bool{"libfoo": true}
			}
			_, err := Resolve(tt.cat, req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("free=%v: %v; want %q, the versions oldest first", free, err, tt.want)
			}
		}
	}
}

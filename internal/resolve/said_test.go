package resolve

import (
	"errors"
	"testing"
)

// A request named by the caller (Dep.Said), which clashes with one
// constraint alone, is told by that constraint alone: install's kept-back
// line asks for a version nobody asked for, and rewrote "you asked for
// NAME =V" in the resolver's text afterwards (newestWhy). Without Said
// the request reads as before, whichever comes first.
func TestRequestSaid(t *testing.T) {
	cat := mkCatalog(
		pv("libcore 1.0.0"), pv("libcore 2.0.0"),
		pv("libnet 1.0.0", "libcore >=1.0, <2"),
	)
	installed := inst("libcore 1.0.0", "libnet 1.0.0")
	for _, tc := range []struct {
		name string
		said string
		req  Request
		want string
	}{
		{"a constraint, then the request", "libcore 2.0.0", Request{Installed: installed, UpgradeAll: true}, "libnet 1.0.0 depends on libcore >=1.0, <2"},
		{"the request, then a constraint", "libcore 2.0.0", reqOf("libnet"), "libnet 1.0.0 depends on libcore >=1.0, <2"},
		{"asked for", "", Request{Installed: installed, UpgradeAll: true}, "libnet 1.0.0 depends on libcore >=1.0, <2, you asked for libcore =2.0.0, and no version of libcore satisfies both"},
		{"asked for first", "", reqOf("libnet"), "you asked for libcore =2.0.0, libnet 1.0.0 depends on libcore >=1.0, <2, and no version of libcore satisfies both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mustDep("libcore =2.0.0")
			d.Said = tc.said
			req := tc.req
			req.Deps = append([]Dep{d}, req.Deps...)
			p, err := Resolve(cat, req)
			var ex *Explanation
			if !errors.As(err, &ex) {
				t.Fatalf("Resolve = %v, %v; want an explanation", fmtPlan(p), err)
			}
			if ex.Cause != tc.want {
				t.Errorf("cause %q, want %q", ex.Cause, tc.want)
			}
		})
	}
}

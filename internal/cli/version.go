package cli

import (
	"runtime/debug"
	"strings"
)

// stamped is the version make build gives (-ldflags -X, from git
// describe): Go's own stamping of the commit is off where GOFLAGS holds
// -buildvcs=false (this project's machines), and fails the build where git
// cannot read the tree.
var stamped string

// Version is what --version prints after the program's name: the version
// make build stamped, else the module's version when the binary was built
// from a tagged module, else the commit it was built from (with "+dirty"
// when the tree had changes); then the Go release that built it, which is
// what a bug report needs to say.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if stamped != "" {
		return stamped + " " + bi.GoVersion
	}
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if v == "" || v == "(devel)" {
		v = "(devel)"
		if rev != "" {
			v = rev[:min(12, len(rev))] + dirty
		}
	}
	return strings.TrimSpace(v + " " + bi.GoVersion)
}

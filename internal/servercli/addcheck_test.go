package servercli

import (
	"testing"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/publish"
)

func TestDirVersionWarning(t *testing.T) {
	tests := []struct {
		dir, name, version string
		warn               bool
	}{
		{"pkgs/hello", "hello", "1.0.0", false},            // no version in the name
		{"pkgs/hello-1.0.0", "hello", "1.0.0", false},      // the same
		{"pkgs/hello-1.0.0/", "hello", "1.0.0", false},     // a trailing slash
		{"pkgs/hello-1.0.0", "hello", "1.1.0", true},       // a copied directory
		{"pkgs/hello-1.0.0-rc.1", "hello", "1.0.0", true},  // a pre-release is another version
		{"pkgs/hello-1.0.0+b1", "hello", "1.0.0+b2", true}, // so is other build metadata
		{"pkgs/hello-1.2", "hello", "1.0.0", false},        // "1.2" is not SemVer: part of the name
		{"pkgs/tool-2-1.0.0", "tool-2", "1.0.0", false},    // digits in the name
		{"pkgs/foo-1.0.0", "foo-1.0.0", "2.0.0", false},    // the manifest names it so
	}
	for _, tt := range tests {
		r := publish.Result{Dir: tt.dir, Package: catalog.Package{Name: tt.name, Version: tt.version}}
		if got := dirVersionWarning(r); (got != "") != tt.warn {
			t.Errorf("%s with %s %s: warning %q, want one: %v", tt.dir, tt.name, tt.version, got, tt.warn)
		}
	}
}

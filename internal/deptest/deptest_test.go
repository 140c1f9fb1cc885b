// Package deptest holds the dependency rules of the tree: the client binary
// links no server-side code, the server binary no client-side code, only
// internal/swarm (and the tracker, which mounts the library's tracker
// server) import the BitTorrent library, and only the CLI packages import
// the CLI library. The packages that own installed files and the local
// state (state, stage, place, script) and the queries of it (installed)
// never reach the network; the fetch of archives into the cache (fetch)
// never touches them but through its callers.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/distpac/distpac/"

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestBinariesLinkOnlyTheirSide(t *testing.T) {
	tests := []struct {
		bin       string
		forbidden []string
	}{
		{"./cmd/dist-client", []string{mod + "internal/server", mod + "internal/publish", mod + "internal/catalogserver", mod + "internal/tracker", mod + "internal/servercli"}},
		{"./cmd/dist-server", []string{mod + "internal/clientcli", mod + "internal/install", mod + "internal/fetch", mod + "internal/daemon", mod + "internal/resolve"}},
		{"./cmd/named-file-server", []string{"github.com/anacrolix/torrent", "github.com/spf13/cobra", "modernc.org/sqlite"}},
	}
	// Test fixtures never ship, and no product binary links the benchmark:
	// it builds networks of namespaces as root (TUN devices, setns, mounts).
	fixtures := []string{mod + "internal/nettest", mod + "internal/buftest", mod + "internal/jsontest", mod + "internal/swarm/peertest", mod + "internal/sqltest", mod + "internal/disktest", mod + "internal/catalog/catalogtest", mod + "internal/cli/clitest", mod + "internal/proctest", mod + "internal/bench"}
	// Nor the cgo binding of libutp: uTP is off (libconfig.go), and it needs a
	// C++ compiler to build and libstdc++ to run (third_party PATCHES.md 38).
	// Nor WebRTC and websockets: distpac speaks no WebTorrent, and linking
	// them cost every command's start 6-8 ms of CPU and 2 MiB (third_party
	// PATCHES.md 43).
	neverLinked := append(fixtures, "github.com/anacrolix/go-libutp", "github.com/pion/webrtc/v4", "github.com/gorilla/websocket")
	for i := range tests {
		tests[i].forbidden = append(tests[i].forbidden, neverLinked...)
	}
	for _, tt := range tests {
		t.Run(tt.bin, func(t *testing.T) {
			have := map[string]bool{}
			for _, d := range deps(t, "../../"+strings.TrimPrefix(tt.bin, "./")) {
				have[d] = true
			}
			for _, f := range tt.forbidden {
				if have[f] {
					t.Errorf("%s links %s", tt.bin, f)
				}
			}
		})
	}
}

// TestMetricsStayAtTheEdges: Prometheus is imported only where metrics are
// served (the server's composition root and catalog server, the client
// daemon), so every other package stays free of it.
func TestMetricsStayAtTheEdges(t *testing.T) {
	allowed := map[string]bool{mod + "internal/server": true, mod + "internal/catalogserver": true, mod + "internal/daemon": true, mod + "internal/tracker": true}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "../../...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, "github.com/prometheus/") && !allowed[f[0]] {
				t.Errorf("%s imports %s", f[0], imp)
			}
		}
	}
}

func TestOnlyTheEnginesImportTheLibrary(t *testing.T) {
	allowedTorrent := map[string]bool{
		mod + "internal/swarm": true, mod + "internal/torrentmeta": true, mod + "internal/tracker": true,
		mod + "internal/catalog": true, // decodes catalog torrents to check rows (metainfo only)
	}
	allowedCobra := map[string]bool{mod + "internal/cli": true, mod + "internal/servercli": true, mod + "internal/clientcli": true,
		mod + "internal/cli/clitest": true, // the CLI packages' tests' (a fixture)
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "../../...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		for _, imp := range imports {
			if strings.HasPrefix(imp, "github.com/anacrolix/torrent") && !allowedTorrent[pkg] {
				t.Errorf("%s imports %s; only the engine packages may", pkg, imp)
			}
			if strings.HasPrefix(imp, "github.com/spf13/cobra") && !allowedCobra[pkg] {
				t.Errorf("%s imports %s; only the CLI packages may", pkg, imp)
			}
		}
	}
}

// TestSigningIsALeaf: internal/signing decides whom a client trusts (catalog
// signatures, key rotation statements) from bytes alone; it never reaches
// the network, the catalog or the CLI itself.
func TestSigningIsALeaf(t *testing.T) {
	for _, d := range deps(t, "../signing") {
		if d == "net" || d == "net/http" || (strings.HasPrefix(d, mod) && d != mod+"internal/signing" && d != mod+"internal/fsutil") {
			t.Errorf("internal/signing depends on %s", d)
		}
	}
}

// TestLeavesStayLeaves: the printer and the name suggestions are used by
// every command of both binaries, so they import no other distpac package
// but units (never the install transaction) nor the BitTorrent library.
// The archive writer and extractor know nothing of torrents either:
// publish runs archive and torrentmeta side by side over the same bytes.
// The connection limiter wraps any listener and knows none of its users.
// The archive extractor may set the processors (internal/procs, itself a
// leaf: an extraction wants every core in a command that runs on one) and
// start the writeback of what it writes (internal/fsutil, file system
// calls and nothing of distpac's own).
func TestLeavesStayLeaves(t *testing.T) {
	allowed := map[string]map[string]bool{
		mod + "internal/suggest":   {},
		mod + "internal/ui":        {mod + "internal/units": true},
		mod + "internal/archive":   {mod + "internal/procs": true, mod + "internal/fsutil": true},
		mod + "internal/connlimit": {},
		mod + "internal/yamlerr":   {},
		mod + "internal/procs":     {},
		// Initialised before the libraries only while it imports
		// nothing else (e2e's TestOneStartInitOrder).
		mod + "internal/procs/onestart": {mod + "internal/procs": true},
		// The ownership check runs first in every command of both
		// binaries: a few lstats, nothing of distpac's own.
		mod + "internal/safedir": {},
		// Read by a client's sync and a daemon's start: the kernel's
		// socket tables, nothing of distpac's own.
		mod + "internal/procnet": {},
		// The one way a test (proctest) or the benchmark starts a child
		// that dies with it: os/exec and the kernel, nothing else.
		mod + "internal/deathsig": {},
	}
	for pkg, ok := range allowed {
		for _, d := range deps(t, "../../"+strings.TrimPrefix(pkg, mod)) {
			if strings.HasPrefix(d, mod) && d != pkg && !ok[d] {
				t.Errorf("%s depends on %s; it must stay a leaf", pkg, d)
			}
			if strings.HasPrefix(d, "github.com/anacrolix/") {
				t.Errorf("%s depends on %s; it must stay a leaf", pkg, d)
			}
		}
	}
}

// TestFileLayersStayLocal: the packages that own the installed files and
// the local state, and the read-only queries of them (installed), never
// reach the network or the engine, so a bug there cannot be driven from
// outside, and they stay testable on a temp dir.
func TestFileLayersStayLocal(t *testing.T) {
	forbidden := []string{
		"github.com/anacrolix/torrent", "net/http",
		mod + "internal/swarm", mod + "internal/daemon", mod + "internal/catalogclient", mod + "internal/install",
	}
	for _, pkg := range []string{"internal/state", "internal/stage", "internal/place", "internal/script", "internal/installed"} {
		t.Run(pkg, func(t *testing.T) {
			for _, d := range deps(t, "../../"+pkg) {
				for _, f := range forbidden {
					if d == f || strings.HasPrefix(d, f+"/") {
						t.Errorf("%s depends on %s", pkg, d)
					}
				}
			}
		})
	}
}

// TestFetchKnowsNothingInstalled: internal/fetch gets archives into the
// cache and tells when they are there; what is installed, the prefix and
// the transaction are internal/install's, which drives it. It imports none
// of them (state and script reach it only inside the daemon and the
// stager it calls), so a fetch can be tested, and changed, without an
// installed state. That install imports fetch, never the reverse, the
// compiler holds (an import cycle).
func TestFetchKnowsNothingInstalled(t *testing.T) {
	forbidden := map[string]bool{
		mod + "internal/install": true, mod + "internal/installed": true, mod + "internal/state": true,
		mod + "internal/place": true, mod + "internal/script": true, mod + "internal/clientcli": true,
	}
	out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, "../fetch").Output()
	if err != nil {
		t.Fatalf("go list ../fetch: %v", err)
	}
	for _, imp := range strings.Fields(string(out)) {
		if forbidden[imp] {
			t.Errorf("internal/fetch imports %s", imp)
		}
	}
}

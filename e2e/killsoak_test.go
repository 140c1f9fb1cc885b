package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/proctest"
)

// TestKillSoak: a random series of installs, upgrades, uninstalls and
// cleans over packages with dependencies and two versions, each killed
// with kill -9 at a random moment. After each, recover succeeds, verify
// finds nothing wrong, every file in the prefix is one an installed
// package recorded, and each installed package's files are its version's.
// The kill tests beside it kill at chosen points; this one at any, as an
// OOM kill would, and at random moments of the moves into the prefix,
// where recovery has the most to undo: with recovery switched off it
// failed 4 runs of 4 (files no package recorded, verify finding recorded
// files missing), against 0 of 3 when every kill landed at a random
// moment. DISTPAC_SOAK_SEED replays a run (its seed is logged);
// DISTPAC_SOAK_ROUNDS runs more rounds (100 passed in 64 s).
func TestKillSoak(t *testing.T) {
	t.Parallel() // mostly waits for its kills (e2e_test.go)
	if testing.Short() {
		t.Skip("a series of installs killed at random moments")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("DISTPAC_SOAK_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("DISTPAC_SOAK_SEED=%q: %v", s, err)
		}
		seed = n
	}
	rounds := 24
	if s := os.Getenv("DISTPAC_SOAK_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("DISTPAC_SOAK_ROUNDS=%q: want a whole number above 0", s)
		}
		rounds = n
	}
	t.Logf("seed %d (DISTPAC_SOAK_SEED=%d replays it), %d rounds", seed, seed, rounds)
	rng := rand.New(rand.NewPCG(seed, seed>>1))

	r := newRig(t, "")
	var dirs []string
	for _, p := range []struct{ name, version, dep string }{
		{"libx", "1.0.0", ""}, {"libx", "2.0.0", ""},
		{"appa", "1.0.0", "libx ^1.0"}, {"appa", "2.0.0", "libx ^2.0"},
		{"appb", "1.0.0", "libx >=1.0"}, {"appc", "1.0.0", ""},
	} {
		dirs = append(dirs, r.soakPackage(p.name, p.version, p.dep))
	}
	r.server(append([]string{"add"}, dirs...)...)
	r.server("start")
	r.client1("sync")

	ops := [][]string{
		{"install", "appa@1.0.0"}, {"install", "appa"}, {"install", "appb"}, {"install", "appc"},
		{"install", "appa@1.0.0", "appb", "appc"}, {"upgrade"},
		{"uninstall", "appa"}, {"uninstall", "--cascade", "appb"}, {"uninstall", "appc"},
		{"uninstall", "--cascade", "appa", "appb", "appc"}, {"clean"},
	}
	prefix := r.path("prefix1")
	var installed []string
	for round := range rounds {
		// A change the state allows: an uninstall of what is not
		// installed exits at once and tests nothing.
		op := ops[rng.IntN(len(ops))]
		for range 20 {
			if !slices.ContainsFunc(op[1:], func(a string) bool {
				return op[0] == "uninstall" && !strings.HasPrefix(a, "-") && !slices.Contains(installed, a) ||
					len(installed) == 0 && op[0] != "install"
			}) && (len(installed) > 0 || op[0] == "install") {
				break
			}
			op = ops[rng.IntN(len(ops))]
		}
		// A third of the kills land anywhere in the command; the others
		// once files start to move in the prefix (or are set aside), a
		// few ms into the moves, where recovery has the most to do and a
		// kill at a random moment seldom lands (the moves are a few ms of
		// a command's 0.5-0.9 s).
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		before := prefixMark(prefix)
		s := r.start(ctx, "dist-client", "client1", "client1.yaml", append([]string{"-q"}, op...)...)
		var when string
		if rng.IntN(3) == 0 {
			delay := time.Duration(rng.IntN(1500)) * time.Millisecond
			time.Sleep(delay)
			when = fmt.Sprintf("after %v", delay)
		} else {
			jitter := time.Duration(rng.IntN(8)) * time.Millisecond
			poll(30*time.Second, func() bool { return prefixMark(prefix) != before || !s.running() })
			time.Sleep(jitter)
			when = fmt.Sprintf("%v into its moves", jitter)
		}
		s.cmd.Process.Signal(syscall.SIGKILL) // ours, by pid; it may have ended
		ended := s.wait()
		cancel()
		what := fmt.Sprintf("round %d: %s killed %s (seed %d)", round, strings.Join(op, " "), when, seed)
		out, err := r.try("dist-client", "client1", "client1.yaml", "recover")
		if err != nil {
			t.Fatalf("%s: recover: %v\n%s", what, err, out)
		}
		t.Logf("%s: %v; recover: %s", what, ended, strings.TrimSpace(out))
		if out, err := r.try("dist-client", "client1", "client1.yaml", "verify"); err != nil {
			t.Fatalf("%s: verify: %v\n%s", what, err, out)
		}
		installed = r.soakCheck(what, prefix)
	}
}

// soakPackage writes a package whose install.sh stages bin/NAME, which
// says its name and version, and a few files, taking up to 80 ms (the
// kills land in the script as often as elsewhere).
func (r *rig) soakPackage(name, version, dep string) string {
	r.t.Helper()
	dir := r.path("pkgs", name+"-"+version)
	manifest := fmt.Sprintf("name: %s\nversion: %s\n", name, version)
	if dep != "" {
		manifest += fmt.Sprintf("depends:\n  - %q\n", dep)
	}
	files := map[string]string{
		"manifest.yaml": manifest,
		"scripts/install.sh": fmt.Sprintf(`#!/bin/sh
set -eu
d="$DISTPAC_DESTDIR$DISTPAC_PREFIX"
mkdir -p "$d/bin" "$d/share/%[1]s"
cp "$DISTPAC_ASSETS"/f* "$d/share/%[1]s/"
echo "%[1]s %[2]s" > "$d/bin/%[1]s"
`, name, version),
	}
	for i := range 300 {
		files[fmt.Sprintf("assets/f%03d", i)] = fmt.Sprintf("%s %s file %d\n", name, version, i)
	}
	r.writeFiles(dir, files)
	return dir
}

// soakCheck checks the prefix against the installed records: every file
// there is one a package recorded, and each package's bin/NAME says the
// version installed. It returns the names installed.
func (r *rig) soakCheck(what, prefix string) []string {
	r.t.Helper()
	var installed []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	r.soakJSON(what, &installed, "list", "--installed", "--json")
	owned := map[string]bool{}
	for _, p := range installed {
		var files struct {
			Files []struct {
				Path string `json:"path"`
			} `json:"files"`
		}
		r.soakJSON(what, &files, "files", "--json", p.Name)
		for _, f := range files.Files {
			owned[f.Path] = true
		}
		b, err := os.ReadFile(filepath.Join(prefix, "bin", p.Name))
		if got, want := strings.TrimSpace(string(b)), p.Name+" "+p.Version; err != nil || got != want {
			r.t.Errorf("%s: bin/%s says %q (%v), want %q, the version installed", what, p.Name, got, err, want)
		}
	}
	var names []string
	for _, p := range installed {
		names = append(names, p.Name)
	}
	var orphans []string
	filepath.WalkDir(prefix, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !owned[p] {
			orphans = append(orphans, p)
		}
		return nil
	})
	if len(orphans) > 0 {
		slices.Sort(orphans)
		r.t.Fatalf("%s: files in the prefix that no installed package recorded: %s", what, strings.Join(orphans, ", "))
	}
	return names
}

// soakJSON runs a dist-client command of client1 and decodes its stdout.
func (r *rig) soakJSON(what string, v any, args ...string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := proctest.Output(r.cmd(ctx, "dist-client", "client1", "client1.yaml", args...))
	if err != nil {
		r.t.Fatalf("%s: dist-client %s: %v", what, strings.Join(args, " "), err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		r.t.Fatalf("%s: dist-client %s: %v\n%s", what, strings.Join(args, " "), err, out)
	}
}

// prefixMark sums up what is placed in the prefix's bin/ and share/*/
// directories (the soak's packages' places): the names, so that a file
// moved in or set aside (.distpac-*) changes it.
func prefixMark(prefix string) string {
	var b strings.Builder
	dirs := []string{filepath.Join(prefix, "bin")}
	if ents, err := os.ReadDir(filepath.Join(prefix, "share")); err == nil {
		for _, e := range ents {
			dirs = append(dirs, filepath.Join(prefix, "share", e.Name()))
		}
	}
	for _, d := range dirs {
		ents, _ := os.ReadDir(d)
		fmt.Fprintf(&b, "%s:%d;", d, len(ents))
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".distpac-") {
				b.WriteString(e.Name())
			}
		}
	}
	return b.String()
}

package publish_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// With tracker_whitelist set, add and remove rewrite the file with the
// catalog's infohashes (hex, one a line, sorted), and the announce-list of
// every torrent holds the configured trackers, a tier each.
func TestWhitelistAndTrackers(t *testing.T) {
	ctx := context.Background()
	p := newPublisher(t)
	wl := filepath.Join(t.TempDir(), "whitelist")
	p.Config.TrackerWhitelist = wl
	p.Config.AnnounceURL = ""
	p.Config.AnnounceURLs = []string{"http://127.0.0.1:1/announce", "http://127.0.0.1:6969/announce"}
	if err := p.Config.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := p.Add(ctx, []string{
		writePkg(t, filepath.Join(t.TempDir(), "foo"), "version: 1.0.0\n", "foo"),
		writePkg(t, filepath.Join(t.TempDir(), "bar"), "version: 2.0.0\n", "bar"),
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, wl)
	if len(lines) != 2 || lines[0] >= lines[1] {
		t.Fatalf("whitelist after adding two packages: %q, want two sorted infohashes", lines)
	}
	hex := regexp.MustCompile(`^[0-9a-f]{40}$`)
	for _, r := range res {
		if !strings.Contains(strings.Join(lines, " "), r.Package.InfoHash) || !hex.MatchString(r.Package.InfoHash) {
			t.Errorf("whitelist %q lacks %s's infohash %s", lines, r.Package.ID(), r.Package.InfoHash)
		}
		mi, _, err := torrentmeta.Parse(r.Package.Torrent, r.Package.Archive, r.Package.Size)
		if err != nil {
			t.Fatal(err)
		}
		if got := mi.AnnounceList; len(got) != 2 || got[0][0] != p.Config.AnnounceURLs[0] || got[1][0] != p.Config.AnnounceURLs[1] {
			t.Errorf("%s: announce-list %q, want a tier for each of %q", r.Package.ID(), got, p.Config.AnnounceURLs)
		}
	}
	if st, err := os.Stat(wl); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("whitelist mode: %v, %v; want 0644 (opentracker reads it as nobody)", st.Mode(), err)
	}

	if _, err := p.Remove(ctx, []catalog.Ref{{Name: "foo", Version: "1.0.0"}}); err != nil {
		t.Fatal(err)
	}
	var bar string
	for _, r := range res {
		if r.Package.Name == "bar" {
			bar = r.Package.InfoHash
		}
	}
	if got := readLines(t, wl); len(got) != 1 || got[0] != bar {
		t.Errorf("whitelist after removing foo: %q, want only bar's %s", got, bar)
	}
	// No temporary files are left beside it.
	entries, _ := os.ReadDir(filepath.Dir(wl))
	if len(entries) != 1 {
		t.Errorf("whitelist directory holds %d entries, want the file alone", len(entries))
	}
}

// A running server's RewriteWhitelist writes the working catalog's list,
// but never while a publisher holds the lock: that publisher writes the
// file itself, and the server's list could be older than its.
func TestRewriteWhitelist(t *testing.T) {
	ctx := context.Background()
	p := newPublisher(t)
	wl := filepath.Join(t.TempDir(), "whitelist")
	if wrote, err := p.RewriteWhitelist(ctx); wrote || err != nil {
		t.Fatalf("RewriteWhitelist without tracker_whitelist = %v, %v; want nothing done", wrote, err)
	}
	p.Config.TrackerWhitelist = wl
	res, err := p.Add(ctx, []string{writePkg(t, filepath.Join(t.TempDir(), "foo"), "version: 1.0.0\n", "foo")})
	if err != nil {
		t.Fatal(err)
	}
	// tracker_whitelist set after the last publication: the file is stale.
	if err := os.WriteFile(wl, []byte("stale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	held := flock.New(p.Paths.PublishLock()) // an add in progress
	if ok, err := held.TryLock(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if wrote, err := p.RewriteWhitelist(ctx); wrote || err != nil {
		t.Errorf("RewriteWhitelist during an add = %v, %v; want it left to the add", wrote, err)
	}
	if got := readLines(t, wl); len(got) != 1 || got[0] != "stale" {
		t.Errorf("whitelist written during an add: %q", got)
	}
	held.Unlock()
	if wrote, err := p.RewriteWhitelist(ctx); !wrote || err != nil {
		t.Fatalf("RewriteWhitelist = %v, %v; want written", wrote, err)
	}
	if got := readLines(t, wl); len(got) != 1 || got[0] != res[0].Package.InfoHash {
		t.Errorf("whitelist %q, want foo's %s", got, res[0].Package.InfoHash)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// A FIFO at the whitelist's path (a whitelist in a shared directory) is
// replaced: reading it to compare hung add for ever. And an add whose
// packages are already recorded writes a whitelist missing its packages
// (an add killed after its commit left it behind).
func TestWhitelistFIFOAndUnchangedAdd(t *testing.T) {
	ctx := context.Background()
	p := newPublisher(t)
	wl := filepath.Join(t.TempDir(), "whitelist")
	if err := syscall.Mkfifo(wl, 0o666); err != nil {
		t.Fatal(err)
	}
	p.Config.TrackerWhitelist = wl
	dir := writePkg(t, filepath.Join(t.TempDir(), "foo"), "version: 1.0.0\n", "foo")
	done := make(chan error, 1)
	go func() { _, err := p.Add(ctx, []string{dir}); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("add hangs on a FIFO at the whitelist's path")
	}
	if st, err := os.Lstat(wl); err != nil || !st.Mode().IsRegular() || len(readLines(t, wl)) != 1 {
		t.Fatalf("whitelist after add: %v, %v; want a regular file of one line", st, err)
	}
	os.Remove(wl)
	res, err := p.Add(ctx, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, wl); len(got) != 1 || got[0] != res[0].Package.InfoHash {
		t.Fatalf("whitelist after an add of a recorded package: %q, want %s", got, res[0].Package.InfoHash)
	}
}

// A tracker_whitelist that cannot be written is refused before anything
// is recorded, naming the configuration file, the key and what to do: add
// recorded the packages, then failed to write the file and exited 1 with
// them published (a newcomer's run with tracker_whitelist in a directory
// that did not exist). Remove refuses the same way and withdraws nothing.
func TestWhitelistCheckedFirst(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	file := filepath.Join(tmp, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(tmp, "read-only")
	if err := os.Mkdir(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, whitelist, want string
		root                  bool // root writes where the mode says no one may
	}{
		{"no directory", filepath.Join(tmp, "nonexistent", "dir", "whitelist"),
			`the directory of TMP/nonexistent/dir/whitelist does not exist: create it (mkdir -p TMP/nonexistent/dir), or name a file in one that does`, true},
		{"a file as its directory", filepath.Join(file, "whitelist"),
			`TMP/a-file is not a directory, so TMP/a-file/whitelist cannot be written: name a file in a directory`, true},
		{"a directory", tmp,
			`TMP is a directory: name a file in it, such as TMP/whitelist`, true},
		{"a directory not writable", filepath.Join(readOnly, "whitelist"),
			`TMP/read-only is not writable by this user`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.root && os.Geteuid() == 0 {
				t.Skip("root writes in a directory of mode 0555")
			}
			p := newPublisher(t)
			dir := writePkg(t, filepath.Join(t.TempDir(), "foo"), "version: 1.0.0\n", "foo")
			ok := filepath.Join(t.TempDir(), "whitelist")
			p.Config.TrackerWhitelist = ok
			if _, err := p.Add(ctx, []string{writePkg(t, filepath.Join(t.TempDir(), "bar"), "version: 1.0.0\n", "bar")}); err != nil {
				t.Fatal(err)
			}
			// As LoadServer says the file's mistakes, at the key's line
			// (it named the file alone).
			cfgPath := filepath.Join(t.TempDir(), "server.yaml")
			if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("# for opentracker -w\n\ntracker_whitelist: %q\n", tt.whitelist)), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.LoadServer(cfgPath, false)
			if err != nil {
				t.Fatal(err)
			}
			p.Config, p.ConfigPath = cfg, cfgPath
			want := cfgPath + `:3: key "tracker_whitelist": ` + strings.ReplaceAll(tt.want, "TMP", tmp)
			_, err = p.Add(ctx, []string{dir})
			if err == nil || !strings.HasPrefix(err.Error(), "nothing published: "+want) {
				t.Fatalf("add: %v\nwant nothing published: %s", err, want)
			}
			_, err = p.Remove(ctx, []catalog.Ref{{Name: "bar", Version: "1.0.0"}})
			if err == nil || !strings.HasPrefix(err.Error(), "nothing removed: "+want) {
				t.Fatalf("remove: %v\nwant nothing removed: %s", err, want)
			}
			db, err := catalog.Open(ctx, p.Paths.Catalog())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			all, err := db.All(ctx)
			if err != nil || len(all) != 1 || all[0].Name != "bar" {
				t.Fatalf("catalog after the refused add and remove: %v, %v; want bar alone", all, err)
			}
			if got := readLines(t, ok); len(got) != 1 || got[0] != all[0].InfoHash {
				t.Errorf("whitelist: %q, want bar's %s", got, all[0].InfoHash)
			}
			if entries, _ := os.ReadDir(tmp); len(entries) != 2 {
				t.Errorf("%s holds %d entries after the checks, want its 2 (no file left of a check)", tmp, len(entries))
			}
		})
	}
}

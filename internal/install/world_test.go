package install

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/buftest"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/installed"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/place"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/ui"
)

// world is a publisher with a real catalog and a client in one temporary
// directory. Published archives are copied into the client's cache, so
// installs run without a network: these tests are about what happens after
// the download (the e2e stories cover the transfers).
type world struct {
	t      testing.TB
	dir    string
	pub    *publish.Publisher
	out    *buftest.Buffer
	client *Client
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return worldAt(t, t.TempDir())
}

// worldAt opens the world in dir (made by newWorld, maybe in another
// process).
func worldAt(t testing.TB, dir string) *world {
	scfg := &config.Server{}
	scfg.ApplyDefaults()
	w := &world{t: t, dir: dir, out: &buftest.Buffer{}}
	w.pub = &publish.Publisher{Paths: paths.Home{Root: filepath.Join(dir, "server")}.Server(), Config: scfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg := &config.Client{Prefix: filepath.Join(dir, "prefix")}
	cfg.ApplyDefaults()
	w.client = &Client{
		Paths:  paths.Home{Root: filepath.Join(dir, "home", "distpac")}.Client(),
		Config: cfg,
		UI:     ui.New(w.out, w.out, false),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return w
}

// pkg writes a package directory: files maps paths (manifest.yaml,
// assets/..., scripts/...) to contents; a content "-> TARGET" makes a
// symlink.
func (w *world) pkg(name, version string, files map[string]string) string {
	w.t.Helper()
	dir := filepath.Join(w.dir, "src", name+"-"+version)
	if _, ok := files["manifest.yaml"]; !ok {
		files["manifest.yaml"] = "name: " + name + "\nversion: " + version + "\n"
	}
	if err := os.MkdirAll(filepath.Join(dir, "assets"), 0o755); err != nil {
		w.t.Fatal(err)
	}
	for p, text := range files {
		abs := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			w.t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(text, "-> "); ok {
			if err := os.Symlink(target, abs); err != nil {
				w.t.Fatal(err)
			}
			continue
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(p, "scripts/") {
			mode = 0o755
		}
		if err := os.WriteFile(abs, []byte(text), mode); err != nil {
			w.t.Fatal(err)
		}
	}
	return dir
}

// publish adds package directories and makes the client see the new
// catalog with the archives in its cache.
func (w *world) publish(dirs ...string) {
	w.t.Helper()
	if _, err := w.pub.Add(context.Background(), dirs); err != nil {
		w.t.Fatal(err)
	}
	w.receive()
}

// receive makes the client see the publisher's catalog, with its archives
// in the client's cache.
func (w *world) receive() {
	w.t.Helper()
	catDir := filepath.Join(w.client.Paths.Dir, "catalog")
	if err := os.MkdirAll(catDir, 0o755); err != nil {
		w.t.Fatal(err)
	}
	w.copy(filepath.Join(w.pub.Paths.PublicDir(), publish.DBFile), filepath.Join(catDir, "packages.db"))
	ents, err := os.ReadDir(w.pub.Paths.Archives())
	if err != nil {
		w.t.Fatal(err)
	}
	os.MkdirAll(w.client.Paths.Cache(), 0o755)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tar.zst") {
			w.copy(filepath.Join(w.pub.Paths.Archives(), e.Name()), filepath.Join(w.client.Paths.Cache(), e.Name()))
		}
	}
}

func (w *world) copy(from, to string) {
	w.t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := fsutil.WriteFileAtomic(to, b, 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// read is a reader of w's installed state, as files, owner, verify and
// history use.
func (w *world) read() *installed.Reader {
	return &installed.Reader{Paths: w.client.Paths}
}

func (w *world) prefix(elem ...string) string {
	return filepath.Join(append([]string{w.client.Config.Prefix}, elem...)...)
}

func (w *world) state() *state.State {
	w.t.Helper()
	st, err := state.Load(w.client.Paths.Installed())
	if err != nil {
		w.t.Fatal(err)
	}
	return st
}

func (w *world) history() []state.HistoryEntry {
	w.t.Helper()
	h, err := w.read().History(context.Background(), state.HistoryQuery{Transfer: true})
	if err != nil {
		w.t.Fatal(err)
	}
	return h
}

// consistent checks the invariant of every transaction: each recorded file
// is on disk as recorded, and nothing is in the prefix that no record
// holds (except what the test says the user put there), no staging is
// left and no journal is open.
func (w *world) consistent(userFiles ...string) {
	w.t.Helper()
	ctx := context.Background()
	owned := map[string]bool{}
	for _, u := range userFiles {
		owned[w.prefix(u)] = true
	}
	db, ok, err := state.OpenRead(ctx, w.client.Paths.Installed())
	if err != nil {
		w.t.Fatal(err)
	}
	if ok {
		defer db.Close()
		if j, err := db.OpenJournal(ctx, w.client.bounds()); err != nil || j != nil {
			w.t.Fatalf("journal left open: %+v, %v", j, err)
		}
		recs, err := db.Records(ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, r := range recs {
			files, err := db.Files(ctx, r.Name)
			if err != nil {
				w.t.Fatal(err)
			}
			if p, err := place.Verify(ctx, r.Prefix, files); err != nil || len(p) > 0 {
				w.t.Fatalf("%s %s is recorded but its files are not as recorded: %v %v", r.Name, r.Version, p, err)
			}
			for _, f := range files {
				owned[filepath.Join(r.Prefix, f.Path)] = true
			}
		}
	}
	filepath.WalkDir(w.prefix(), func(p string, d os.DirEntry, err error) error {
		if err != nil || p == w.prefix() || d.IsDir() {
			return nil
		}
		if !owned[p] {
			w.t.Errorf("%s is in the prefix but no record has it", p)
		}
		return nil
	})
	for _, root := range w.client.stagingRoots() {
		if ents, _ := os.ReadDir(root); len(ents) > 0 {
			w.t.Errorf("staging left in %s: %v", root, ents)
		}
	}
}

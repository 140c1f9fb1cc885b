package catalog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/sqltest"
)

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	foo := makePkg(t, "foo", "1.0.0", 1000)
	foo.Depends = []string{"libbar ^1.4", "baz"}
	foo.Conflicts = []string{"oldfoo"}
	bar := makePkg(t, "libbar", "1.4.2", 300<<10) // two pieces
	bar.Description = "Bar library: ÜBER fast"
	pkgs := []Package{foo, bar}

	added, err := db.Add(ctx, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(added, pkgs) {
		t.Fatalf("added = %v, want %v", ids(added), ids(pkgs))
	}
	for _, p := range pkgs {
		got, err := db.Get(ctx, strings.ToUpper(p.Name), p.Version)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("Get(%s) = %+v\nwant %+v", p.ID(), got, p)
		}
	}
	all, err := db.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(all, pkgs) {
		t.Errorf("All = %v, want %v", ids(all), ids(pkgs))
	}
	if err := db.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}

	searches := []struct {
		term string
		want []string
	}{
		{"foo", []string{"foo@1.0.0"}},
		{"FOO", []string{"foo@1.0.0"}},
		{"bar", []string{"libbar@1.4.2"}},
		{"über", []string{"libbar@1.4.2"}}, // Unicode case folding in the description
		{"package", []string{"foo@1.0.0"}},
		{"LIBRARY", []string{"libbar@1.4.2"}},
		{"", []string{"foo@1.0.0", "libbar@1.4.2"}},
		{"%", nil}, // no LIKE wildcards
		{"nothing", nil},
	}
	for _, tc := range searches {
		got, err := db.Search(ctx, tc.term)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("Search(%q) = %v, want %v", tc.term, ids(got), tc.want)
		}
	}

	if _, err := db.Get(ctx, "foo", "9.9.9"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get missing version: err = %v, want ErrNotFound", err)
	}
	if _, err := db.Versions(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Versions missing name: err = %v, want ErrNotFound", err)
	}
}

func TestManyVersions(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	// Text order differs from SemVer order on purpose.
	versions := []string{"1.10.0", "1.2.0", "1.2.0-rc.1", "0.9.0", "2.0.0", "1.2.0-alpha", "1.2.0+build.5"}
	var pkgs []Package
	for _, v := range versions {
		pkgs = append(pkgs, makePkg(t, "multi", v, 100))
	}
	pkgs = append(pkgs, makePkg(t, "other", "1.0.0", 100))
	if _, err := db.Add(ctx, pkgs); err != nil {
		t.Fatal(err)
	}
	if m := mustMeta(t, db); m.Serial < TimeSerial(m.Created) {
		t.Errorf("serial after one Add = %d, want at least %d (TimeSerial of %s)", m.Serial, TimeSerial(m.Created), m.Created)
	}
	got, err := db.Versions(ctx, "MULTI")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"multi@0.9.0", "multi@1.2.0-alpha", "multi@1.2.0-rc.1", "multi@1.2.0", "multi@1.2.0+build.5", "multi@1.10.0", "multi@2.0.0"}
	if !slices.Equal(ids(got), want) {
		t.Errorf("Versions = %v, want %v", ids(got), want)
	}
	all, err := db.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantAll := []string{"multi@0.9.0", "multi@1.10.0", "multi@1.2.0", "multi@1.2.0+build.5", "multi@1.2.0-alpha", "multi@1.2.0-rc.1", "multi@2.0.0", "other@1.0.0"}
	if !slices.Equal(ids(all), wantAll) {
		t.Errorf("All = %v, want %v", ids(all), wantAll)
	}
}

func TestNames(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	if names, err := db.Names(ctx); err != nil || len(names) != 0 {
		t.Fatalf("Names of an empty catalog = %q, %v", names, err)
	}
	if _, err := db.Add(ctx, []Package{makePkg(t, "zeta", "1.0.0", 100), makePkg(t, "alpha", "1.0.0", 100),
		makePkg(t, "alpha", "2.0.0", 100), makePkg(t, "Mid", "0.1.0", 100)}); err != nil {
		t.Fatal(err)
	}
	names, err := db.Names(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Each name once, in the order of All (SQLite's binary collation).
	if want := []string{"Mid", "alpha", "zeta"}; !slices.Equal(names, want) {
		t.Errorf("Names = %q, want %q", names, want)
	}
}

func TestAddSemantics(t *testing.T) {
	ctx := context.Background()
	base := makePkg(t, "foo", "1.0.0", 100)
	tests := []struct {
		name      string
		add       []Package
		wantErr   error
		wantAdded []string
		wantRows  []string
	}{
		{
			name:     "identical re-add is a no-op",
			add:      []Package{base},
			wantRows: []string{"foo@1.0.0"},
		},
		{
			name:      "identical re-add beside a new version adds only the new one",
			add:       []Package{base, makePkg(t, "foo", "1.1.0", 100)},
			wantAdded: []string{"foo@1.1.0"},
			wantRows:  []string{"foo@1.0.0", "foo@1.1.0"},
		},
		{
			name:     "different content for the same version is refused",
			add:      []Package{makePkgSalt(t, "foo", "1.0.0", 100, "changed")},
			wantErr:  ErrConflict,
			wantRows: []string{"foo@1.0.0"},
		},
		{
			name:     "a conflict refuses the whole batch",
			add:      []Package{makePkg(t, "bar", "1.0.0", 100), makePkgSalt(t, "foo", "1.0.0", 100, "changed")},
			wantErr:  ErrConflict,
			wantRows: []string{"foo@1.0.0"},
		},
		{
			name:     "a name differing only in case is refused",
			add:      []Package{makePkg(t, "Foo", "2.0.0", 100)},
			wantErr:  ErrNameCase,
			wantRows: []string{"foo@1.0.0"},
		},
		{
			name:     "case clash inside one batch is refused",
			add:      []Package{makePkg(t, "Bar", "1.0.0", 100), makePkg(t, "bAR", "1.0.1", 100)},
			wantErr:  ErrNameCase,
			wantRows: []string{"foo@1.0.0"},
		},
		{
			name: "an inconsistent row is refused",
			add: []Package{func() Package {
				p := makePkg(t, "bar", "1.0.0", 100)
				p.Size++
				return p
			}()},
			wantErr:  ErrInvalid,
			wantRows: []string{"foo@1.0.0"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTemp(t)
			if _, err := db.Add(ctx, []Package{base}); err != nil {
				t.Fatal(err)
			}
			before := mustMeta(t, db)
			added, err := db.Add(ctx, tc.add)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Add err = %v, want %v", err, tc.wantErr)
			}
			if !slices.Equal(ids(added), tc.wantAdded) {
				t.Errorf("added = %v, want %v", ids(added), tc.wantAdded)
			}
			all, err := db.All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(all), tc.wantRows) {
				t.Errorf("rows = %v, want %v", ids(all), tc.wantRows)
			}
			if got, _ := db.Get(ctx, "foo", "1.0.0"); !reflect.DeepEqual(got, base) {
				t.Errorf("foo@1.0.0 changed: %+v", got)
			}
			after := mustMeta(t, db)
			wantSerial := before.Serial
			if len(tc.wantAdded) > 0 {
				wantSerial++
			}
			if after.Serial != wantSerial {
				t.Errorf("serial = %d, want %d", after.Serial, wantSerial)
			}
		})
	}
}

func TestNameCaseErrorNamesBoth(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	if _, err := db.Add(ctx, []Package{makePkg(t, "libFoo", "1.0.0", 10)}); err != nil {
		t.Fatal(err)
	}
	_, err := db.Add(ctx, []Package{makePkg(t, "LibFoo", "1.0.1", 10)})
	if !errors.Is(err, ErrNameCase) || !strings.Contains(err.Error(), `"libFoo"`) || !strings.Contains(err.Error(), `"LibFoo"`) {
		t.Errorf("err = %v, want ErrNameCase naming both spellings", err)
	}
}

func TestRemoveAndSerial(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	clock := time.Unix(1800000000, 0)
	db.now = func() time.Time { clock = clock.Add(time.Minute); return clock }

	m0 := mustMeta(t, db)
	if m0.SchemaVersion != SchemaVersion || m0.Serial != 0 {
		t.Fatalf("new catalog meta = %+v", m0)
	}
	p1, p2 := makePkg(t, "foo", "1.0.0", 10), makePkg(t, "foo", "1.1.0", 10)
	if _, err := db.Add(ctx, []Package{p1, p2}); err != nil {
		t.Fatal(err)
	}
	m1 := mustMeta(t, db)
	// Each a minute after the one before: the serial is the time's.
	if m1.Serial != 20270115080200 || !m1.Created.After(m0.Created) {
		t.Errorf("after Add meta = %+v (before %+v)", m1, m0)
	}

	got, err := db.Remove(ctx, "FOO", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p1) {
		t.Errorf("Remove returned %v", got.ID())
	}
	if m := mustMeta(t, db); m.Serial != 20270115080300 {
		t.Errorf("serial after Remove = %d, want 20270115080300", m.Serial)
	}
	if _, err := db.Get(ctx, "foo", "1.0.0"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get removed: err = %v", err)
	}
	if _, err := db.Remove(ctx, "foo", "1.0.0"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove twice: err = %v, want ErrNotFound", err)
	}
	if m := mustMeta(t, db); m.Serial != 20270115080300 {
		t.Errorf("serial after failed Remove = %d, want 20270115080300", m.Serial)
	}
	m, err := db.BumpSerial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Serial != 20270115080400 || m != mustMeta(t, db) {
		t.Errorf("BumpSerial = %+v, Meta = %+v", m, mustMeta(t, db))
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "packages.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	p := makePkg(t, "foo", "1.0.0", 10)
	if _, err := db.Add(ctx, []Package{p}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Errorf("a -wal file exists: the catalog must not use WAL")
	}
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, err := db.Get(ctx, "foo", "1.0.0"); err != nil || !reflect.DeepEqual(got, p) {
		t.Errorf("after reopen Get = %v, %v", got.ID(), err)
	}
	var mode string
	if err := db.sql.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "delete" {
		t.Errorf("journal_mode = %q, %v", mode, err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "packages.db")
	const writers, each = 2, 5
	pkgs := make([][]Package, writers)
	for w := range writers {
		for i := range each {
			pkgs[w] = append(pkgs[w], makePkg(t, "p"+string(rune('a'+w)), "1.0."+string(rune('0'+i)), 10))
		}
	}
	start := TimeSerial(time.Now()) - 1
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			// Each writer has its own handle, as separate processes would.
			db, err := Open(ctx, path)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			for _, p := range pkgs[w] {
				if _, err := db.Add(ctx, []Package{p}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all, _ := db.All(ctx)
	if len(all) != writers*each {
		t.Errorf("%d rows, want %d", len(all), writers*each)
	}
	// Every Add a serial of its own: at least one above the serial of a
	// time before the first, however many came in one second.
	if m := mustMeta(t, db); m.Serial < start+writers*each {
		t.Errorf("serial = %d, want at least %d (%d publications after %d)", m.Serial, start+writers*each, writers*each, start)
	}
}

func TestSnapshotReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTemp(t)
	pkgs := []Package{makePkg(t, "foo", "1.0.0", 10), makePkg(t, "foo", "2.0.0", 20), makePkg(t, "bar", "0.1.0", 30)}
	if _, err := db.Add(ctx, pkgs); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "packages.db")
	if err := os.WriteFile(snap, []byte("old content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := db.Snapshot(ctx, snap); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("snapshot left files behind: %v", entries)
	}

	ro, err := OpenReadOnly(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Check(ctx); err != nil {
		t.Errorf("Check of snapshot: %v", err)
	}
	want, _ := db.All(ctx)
	got, err := ro.All(ctx)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("snapshot All = %v, %v; want %v", ids(got), err, ids(want))
	}
	if m, wm := mustMeta(t, ro), mustMeta(t, db); m != wm {
		t.Errorf("snapshot meta = %+v, want %+v", m, wm)
	}
	if _, err := ro.Add(ctx, []Package{makePkg(t, "baz", "1.0.0", 10)}); err == nil {
		t.Error("Add on a read-only catalog succeeded")
	}
	if _, err := ro.BumpSerial(ctx); err == nil {
		t.Error("BumpSerial on a read-only catalog succeeded")
	}

	// The working catalog goes on; a new snapshot replaces the old one.
	if _, err := db.Remove(ctx, "foo", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := db.Snapshot(ctx, snap); err != nil {
		t.Fatal(err)
	}
	ro2, err := OpenReadOnly(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	defer ro2.Close()
	if m, first := mustMeta(t, ro2), mustMeta(t, ro); m.Serial <= first.Serial || m != mustMeta(t, db) {
		t.Errorf("second snapshot meta = %+v, want the working catalog's %+v, above the first's serial %d", m, mustMeta(t, db), first.Serial)
	}
	if all, _ := ro2.All(ctx); len(all) != 2 {
		t.Errorf("second snapshot has %d rows, want 2", len(all))
	}
	// The first handle still reads its own, unchanged file.
	if all, _ := ro.All(ctx); len(all) != 3 {
		t.Errorf("old snapshot handle sees %d rows, want 3", len(all))
	}
}

// RemoveAll removes every version named in one serial bump, or, when one
// is not published, nothing at all.
func TestRemoveAllOrNothing(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		refs       []Ref
		wantErr    bool
		wantLeft   []string
		wantBumped bool // the serial after the Add's
	}{
		{"two", []Ref{{"foo", "1.0.0"}, {"BAR", "2.0.0"}}, false, []string{"foo@1.1.0"}, true},
		{"one missing", []Ref{{"foo", "1.0.0"}, {"nope", "1.0.0"}}, true, []string{"bar@2.0.0", "foo@1.0.0", "foo@1.1.0"}, false},
		{"same twice", []Ref{{"foo", "1.0.0"}, {"foo", "1.0.0"}}, true, []string{"bar@2.0.0", "foo@1.0.0", "foo@1.1.0"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTemp(t)
			if _, err := db.Add(ctx, []Package{makePkg(t, "foo", "1.0.0", 10), makePkg(t, "foo", "1.1.0", 10), makePkg(t, "bar", "2.0.0", 10)}); err != nil {
				t.Fatal(err)
			}
			added := mustMeta(t, db)
			_, err := db.RemoveAll(ctx, tc.refs)
			if (err != nil) != tc.wantErr {
				t.Fatalf("RemoveAll(%v) err = %v, want error %v", tc.refs, err, tc.wantErr)
			}
			all, err := db.All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, p := range all {
				left = append(left, p.ID())
			}
			slices.Sort(left)
			if !slices.Equal(left, tc.wantLeft) {
				t.Errorf("left %v, want %v", left, tc.wantLeft)
			}
			if m := mustMeta(t, db); (m.Serial > added.Serial) != tc.wantBumped || m.Serial < added.Serial {
				t.Errorf("serial %d after the Add's %d, want a new one: %v", m.Serial, added.Serial, tc.wantBumped)
			}
		})
	}
}

// TestVersionsOf: one query gives each name asked what Versions gives it,
// under the name as asked (any case); names the catalog lacks are absent,
// a name asked twice is read once.
func TestVersionsOf(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	var pkgs []Package
	for _, v := range []string{"1.10.0", "1.2.0", "1.2.0-rc.1", "1.2.0+build.5"} {
		pkgs = append(pkgs, makePkg(t, "multi", v, 100))
	}
	dep := makePkg(t, "Other", "1.0.0", 100)
	dep.Depends, dep.Conflicts = []string{"multi ^1.2"}, []string{"old"}
	pkgs = append(pkgs, dep)
	if _, err := db.Add(ctx, pkgs); err != nil {
		t.Fatal(err)
	}
	asked := []string{"multi", "OTHER", "nope", "multi", "Multi"}
	got, err := db.VersionsOf(ctx, asked)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]Package{}
	for _, n := range asked {
		if v, err := db.Versions(ctx, n); err == nil {
			want[n] = v
		} else if !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("VersionsOf = %v\nwant %v", got, want)
	}
	if len(got["multi"]) != 4 || len(got["OTHER"]) != 1 || got["OTHER"][0].Depends[0] != "multi ^1.2" {
		t.Fatalf("VersionsOf = %v", got)
	}
	if got, err := db.VersionsOf(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("VersionsOf(nil) = %v, %v", got, err)
	}
	// Each name is found through the index, not by reading the table.
	plan := sqltest.Plan(t, db.sql, versionsOfQuery, `["multi"]`)
	if !slices.ContainsFunc(plan, func(s string) bool { return strings.Contains(s, "USING INDEX packages_lower_name") }) {
		t.Fatalf("plan %q does not use packages_lower_name", plan)
	}
}

// TestOpErrNamesTheFile: an error of the environment (a full disk) names
// the catalog file, which an operator needs to know which disk filled;
// one of the content does not need it.
func TestOpErrNamesTheFile(t *testing.T) {
	db := &DB{path: "/srv/distpac/server/catalog.db"}
	full := db.opErr("add", fmt.Errorf("commit: %w", &fs.PathError{Op: "write", Path: "catalog.db-journal", Err: syscall.ENOSPC}))
	if !strings.HasPrefix(full.Error(), "add: /srv/distpac/server/catalog.db: ") {
		t.Errorf("full disk: %v", full)
	}
	if other := db.opErr("add", ErrConflict); other.Error() != "add: "+ErrConflict.Error() || !errors.Is(other, ErrConflict) {
		t.Errorf("content: %v", other)
	}
}

package install

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/state"
)

// publishBuilds publishes one version in builds that differ only in build
// metadata, as catalogs made before dist-server add refused them hold it:
// each build by a publisher of its own (add refuses a second build), then
// every row put in w's catalog and every archive in w's archive store, and
// the client given the catalog. Each build installs share/NAME/build
// holding its metadata ("" for none).
func (w *world) publishBuilds(name string, versions ...string) {
	w.t.Helper()
	ctx := context.Background()
	var rows []catalog.Package
	for i, v := range versions {
		_, build, _ := strings.Cut(v, "+")
		dir := w.pkg(name, v, map[string]string{"assets/share/" + name + "/build": build})
		if i == 0 {
			if _, err := w.pub.Add(ctx, []string{dir}); err != nil {
				w.t.Fatal(err)
			}
			continue
		}
		other := worldAt(w.t, filepath.Join(w.dir, "other-"+v))
		if _, err := other.pub.Add(ctx, []string{dir}); err != nil {
			w.t.Fatal(err)
		}
		db, err := catalog.OpenReadOnly(ctx, filepath.Join(other.pub.Paths.PublicDir(), publish.DBFile))
		if err != nil {
			w.t.Fatal(err)
		}
		row, err := db.Get(ctx, name, v)
		db.Close()
		if err != nil {
			w.t.Fatal(err)
		}
		rows = append(rows, row)
		w.copy(filepath.Join(other.pub.Paths.Archives(), row.Archive), filepath.Join(w.pub.Paths.Archives(), row.Archive))
	}
	db, err := catalog.Open(ctx, filepath.Join(w.pub.Paths.PublicDir(), publish.DBFile))
	if err != nil {
		w.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Add(ctx, rows); err != nil {
		w.t.Fatal(err)
	}
	w.receive()
}

// TestInstallOneBuild: on a catalog holding bm 1.0.0, 1.0.0+a and 1.0.0+b,
// a request that names a build installs that build (its archive, its
// record), or fails naming the builds there are; a request without build
// metadata installs what it did before (the first, 1.0.0).
func TestInstallOneBuild(t *testing.T) {
	tests := []struct {
		name    string
		first   string // installed before, if set
		request string
		want    string // the build installed after the request
		wantErr string
		wantOut string
	}{
		{name: "exact build", request: "bm@1.0.0+b", want: "1.0.0+b"},
		{name: "another exact build", request: "bm@1.0.0+a", want: "1.0.0+a"},
		{name: "exact build written with =", request: "bm@=1.0.0+b", want: "1.0.0+b"},
		{name: "exact version without build, as before", request: "bm@1.0.0", want: "1.0.0"},
		{name: "bare name, as before", request: "bm", want: "1.0.0"},
		{name: "no such build", request: "bm@1.0.0+c",
			wantErr: "cannot install bm: no version of bm is exactly 1.0.0+c (build metadata must match; there are 1.0.0, 1.0.0+a and 1.0.0+b)"},
		{name: "installed build replaced by the one asked for", first: "bm@1.0.0", request: "bm@1.0.0+b", want: "1.0.0+b",
			wantOut: "replacing bm 1.0.0 -> 1.0.0+b"},
		{name: "installed build asked for again", first: "bm@1.0.0+a", request: "bm@1.0.0+a", want: "1.0.0+a",
			wantOut: "bm 1.0.0+a is already installed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			w.publishBuilds("bm", "1.0.0", "1.0.0+a", "1.0.0+b")
			if tt.first != "" {
				if err := w.client.Install(ctx, []string{tt.first}); err != nil {
					t.Fatal(err)
				}
			}
			err := w.client.Install(ctx, []string{tt.request})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("install %s: %v\nwant error %s", tt.request, err, tt.wantErr)
				}
				if _, ok := w.state().Get("bm"); ok {
					t.Fatal("bm recorded after a failed install")
				}
				return
			}
			if err != nil {
				t.Fatalf("install %s: %v\n%s", tt.request, err, w.out)
			}
			r, ok := w.state().Get("bm")
			if !ok || r.Version != tt.want || r.Archive != "bm-"+tt.want+".tar.zst" {
				t.Fatalf("install %s recorded %+v, want bm %s", tt.request, r, tt.want)
			}
			_, build, _ := strings.Cut(tt.want, "+")
			if b, err := os.ReadFile(w.prefix("share", "bm", "build")); err != nil || string(b) != build {
				t.Fatalf("share/bm/build = %q, %v; want %q (the archive of bm %s)", b, err, build, tt.want)
			}
			if !strings.Contains(w.out.String(), tt.wantOut) {
				t.Fatalf("output lacks %q:\n%s", tt.wantOut, w.out)
			}
			if tt.first != "" && tt.wantOut != "" && strings.HasPrefix(tt.wantOut, "replacing") {
				h := w.history()
				if ch := h[len(h)-1].Changes; len(ch) != 1 || ch[0] != (state.HistoryChange{Name: "bm", From: "1.0.0", To: tt.want}) {
					t.Fatalf("history of the replacement: %+v", ch)
				}
			}
			w.consistent()
		})
	}
}

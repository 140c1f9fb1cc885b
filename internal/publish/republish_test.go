package publish_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/publish"
)

// Republish publishes the catalog again, its packages as they are, under
// a serial above the one given and above every serial before, valid from
// now; what cannot be published is refused with the serial left as it
// was.
func TestRepublish(t *testing.T) {
	ctx := context.Background()
	ahead := catalog.TimeSerial(time.Now().Add(48 * time.Hour)) // a clock two days ahead made it
	tests := []struct {
		name string
		// setup runs after foo is added; it returns the serial the
		// result must be above (0: the one published before).
		setup   func(t *testing.T, p *publish.Publisher) int64
		past    int64
		want    func(published int64) int64 // the serial made, when it is known; nil: above
		wantErr error
	}{
		{name: "no serial given: above the one before"},
		{name: "a serial ahead of the clock", past: ahead, want: func(int64) int64 { return ahead + 1 }},
		{name: "a serial below the one published", past: 5},
		{name: "catalog.db restored below the one published", setup: func(t *testing.T, p *publish.Publisher) int64 {
			backup := backupBefore(t, p, "bar")
			published := publishedMeta(t, p).Serial
			if err := os.Remove(p.Paths.Catalog()); err != nil {
				t.Fatal(err)
			}
			copyFile(t, backup, p.Paths.Catalog())
			return published
		}},
		{name: "a serial the one before the top", past: math.MaxInt64 - 1, want: func(int64) int64 { return math.MaxInt64 }},
		{name: "a serial at the top", past: math.MaxInt64, wantErr: catalog.ErrLastSerial},
		{name: "catalog.db lost", wantErr: publish.ErrCatalogLost, setup: func(t *testing.T, p *publish.Publisher) int64 {
			if err := os.Remove(p.Paths.Catalog()); err != nil {
				t.Fatal(err)
			}
			return 0
		}},
		{name: "a catalog clients would refuse", wantErr: catalog.ErrUnpublishable, setup: func(t *testing.T, p *publish.Publisher) int64 {
			handEdit(t, p.Paths.Catalog(), `UPDATE packages SET installed_size = 0`)
			return 0
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPublisher(t)
			if _, err := p.Add(ctx, []string{writePkg(t, filepath.Join(t.TempDir(), "foo"), "version: 1.0.0\n", "x")}); err != nil {
				t.Fatal(err)
			}
			above := publishedMeta(t, p).Serial
			if tc.setup != nil {
				if s := tc.setup(t, p); s != 0 {
					above = s
				}
			}
			before := publishedMeta(t, p)
			beforePkgs := publishedPackages(t, p)
			start := time.Now().Truncate(time.Second)
			m, err := p.Republish(ctx, tc.past)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Republish(%d) = %+v, %v; want %v", tc.past, m, err, tc.wantErr)
				}
				if after := publishedMeta(t, p); after != before {
					t.Errorf("published %+v after the refusal, want %+v as before", after, before)
				}
				return
			}
			if err != nil {
				t.Fatalf("Republish(%d): %v", tc.past, err)
			}
			if tc.want != nil {
				if w := tc.want(above); m.Serial != w {
					t.Errorf("Republish(%d) made serial %d, want %d", tc.past, m.Serial, w)
				}
			} else if m.Serial <= max(above, tc.past) {
				t.Errorf("Republish(%d) made serial %d, want above %d", tc.past, m.Serial, max(above, tc.past))
			}
			published := publishedMeta(t, p)
			if published != m {
				t.Errorf("published %+v, want %+v as Republish said", published, m)
			}
			if m.Created.Before(start) || m.ValidUntil.Sub(m.Created) != catalog.DefaultValidFor {
				t.Errorf("published %+v: want created now (%s) and valid for %s", m, start, catalog.DefaultValidFor)
			}
			pkgs := publishedPackages(t, p)
			if tc.setup == nil && (len(pkgs) != len(beforePkgs) || pkgs[0].SHA256 != beforePkgs[0].SHA256) {
				t.Errorf("packages after Republish: %+v, want %+v", pkgs, beforePkgs)
			}
			clientAccepts(t, p, nil)
		})
	}
}

// A data home with nothing published has nothing to publish again, and
// Republish makes nothing there (no key, no catalog).
func TestRepublishNothingPublished(t *testing.T) {
	p := newPublisher(t)
	if _, err := p.Republish(context.Background(), 0); !errors.Is(err, publish.ErrNothingPublished) {
		t.Fatalf("Republish of a fresh data home: %v, want ErrNothingPublished", err)
	}
	for _, f := range []string{p.Paths.Catalog(), p.Paths.SigningKey()} {
		if _, err := os.Lstat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after the refusal: %v, want none made", f, err)
		}
	}
}

package fetch

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/ui"
)

// seedSource reports, every 20 ms, a web seed that has sent perTick more
// bytes (and, with sources false, says nothing of its sources, as a
// daemon older than them); the archive completes after doneAfter ticks
// (0: never; the fetch then ends with its context).
type seedSource struct {
	perTick   int64
	sources   bool
	doneAfter int
}

func (s seedSource) Via() string { return "" }
func (s seedSource) Close()      {}
func (s seedSource) Fetch(ctx context.Context, rows, _ []catalog.Package, ev Events) error {
	seed := swarm.SeedActivity{Seed: "http://user:xxxxx@seed.test/packages/", URL: "http://user:xxxxx@seed.test/packages/" + rows[0].Archive,
		Asked: 1, Fetching: true, Answer: "HTTP 206 Partial Content"}
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		seed.Sent = int64(i) * s.perTick
		if s.sources {
			ev.Sources(swarm.Sources{WebSeeds: []swarm.SeedActivity{seed}})
		}
		ev.Progress(0, 0) // a web seed's piece counts only once whole
		if i == s.doneAfter {
			ev.Finished(rows[0], swarm.Transfer{Total: rows[0].Size, FromWebSeed: rows[0].Size})
			return nil
		}
	}
}

// TestStallFloorAndSources: a fetch whose sources send under the floor
// fails at its stall timeout naming each source and what it sent, and
// one whose web seed sends well above it goes on though no piece is whole
// yet (it failed with "no data received"); a source that does not say
// what its sources did gets the words it had. The error names the archive,
// as every other download error does (it reached the user as
// "dist-client: only 4 B received …", with no package).
func TestStallFloorAndSources(t *testing.T) {
	seedURL := regexp.QuoteMeta("http://user:xxxxx@seed.test/packages/hello-1.0.0.tar.zst")
	for _, tc := range []struct {
		name string
		src  seedSource
		want string // a pattern of the error; "" for none
	}{
		{"drips 50 B/s", seedSource{perTick: 1, sources: true},
			`^download hello-1\.0\.0\.tar\.zst: only [0-9]+ B received in 400ms from all peers and web seeds, under 1\.0 KiB/s: web seed ` + seedURL + ` answered HTTP 206 Partial Content and sent [0-9]+ B; no peer connected$`},
		{"answers, sends nothing", seedSource{sources: true},
			`^download hello-1\.0\.0\.tar\.zst: no data received for 400ms from any peer or web seed: web seed ` + seedURL + ` answered HTTP 206 Partial Content and sent nothing; no peer connected$`},
		{"sends 100 KiB/s, no piece whole for 800 ms", seedSource{perTick: 2 << 10, sources: true, doneAfter: 40}, ""},
		{"says nothing of its sources", seedSource{perTick: 1}, `^download hello-1\.0\.0\.tar\.zst: no data received for 400ms from any peer or web seed$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Client{Prefix: filepath.Join(t.TempDir(), "prefix")}
			cfg.ApplyDefaults()
			o := Options{Paths: paths.Home{Root: filepath.Join(t.TempDir(), "distpac")}.Client(), Config: cfg,
				UI: ui.New(io.Discard, io.Discard, false), StallTimeout: 400 * time.Millisecond, Source: tc.src}
			rows := []catalog.Package{{Name: "hello", Version: "1.0.0", Archive: "hello-1.0.0.tar.zst", Size: 100 << 10}}
			f, err := Start(context.Background(), o, rows)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Stop()
			err = f.Finish()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("fetch: %v", err)
				}
				return
			}
			if err == nil || !regexp.MustCompile(tc.want).MatchString(err.Error()) || !errors.Is(err, errStalled) {
				t.Fatalf("fetch: %v\nwant an error matching %s", err, tc.want)
			}
		})
	}
}

// TestStallRate: the floor is 1 KiB/s, or half a lower download cap.
func TestStallRate(t *testing.T) {
	for _, tc := range []struct{ limit, want int64 }{
		{0, 1 << 10}, {10 << 20, 1 << 10}, {2 << 10, 1 << 10}, {1000, 500}, {1, 1},
	} {
		if got := stallRate(tc.limit); got != tc.want {
			t.Errorf("stallRate(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
}

// A stall names every archive still downloading, in plan order, and none
// that completed or came from the cache.
func TestStallNamesArchivesLeft(t *testing.T) {
	f := &Fetch{pending: map[string]bool{"b-1.0.0.tar.zst": true, "d-1.0.0.tar.zst": true, "e-1.0.0.tar.zst": true, "f-1.0.0.tar.zst": true}}
	for _, a := range []string{"a", "b", "c", "d", "e", "f"} {
		f.need = append(f.need, catalog.Package{Archive: a + "-1.0.0.tar.zst"})
	}
	stall := &swarm.StallError{After: 6 * time.Second, Rate: 1 << 10}
	err := f.stalled(stall)
	if want := "download b-1.0.0.tar.zst, d-1.0.0.tar.zst, e-1.0.0.tar.zst and 1 other: no data received for 6s from any peer or web seed"; err.Error() != want {
		t.Errorf("stalled = %q, want %q", err, want)
	}
	if se := (*swarm.StallError)(nil); !errors.As(err, &se) || !errors.Is(err, errStalled) {
		t.Errorf("stalled = %#v: not a StallError any more", err)
	}
	clear(f.pending)
	if err := f.stalled(stall); err != stall {
		t.Errorf("nothing left: stalled = %q, want the stall alone", err)
	}
}

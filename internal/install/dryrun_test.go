package install

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/buftest"
	"github.com/distpac/distpac/internal/fetch"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/ui"
)

// A dry run's estimate is at the rate of the client's last downloads; a
// damaged history entry (2^62 bytes in a nanosecond, an attacker's run)
// made it negative, and is left out.
func TestPastRate(t *testing.T) {
	type entry struct {
		bytes int64
		took  time.Duration
	}
	for _, tt := range []struct {
		name    string
		entries []entry
		rate    int64
		from    int
	}{
		{"none", nil, 0, 0},
		{"one", []entry{{4 << 20, 2 * time.Second}}, 2 << 20, 1},
		{"the bytes over the time of all", []entry{{4 << 20, time.Second}, {2 << 20, 2 * time.Second}}, 2 << 20, 2},
		{"a damaged entry is left out", []entry{{4 << 20, 2 * time.Second}, {1 << 62, time.Nanosecond}}, 2 << 20, 1},
		{"only damaged entries", []entry{{1 << 62, time.Nanosecond}, {1 << 62, 0}}, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := &Client{}
			db, err := state.Open(ctx, filepath.Join(t.TempDir(), "installed.db"), "/opt/p")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, e := range tt.entries {
				id, err := db.StartHistory(ctx, "install x")
				if err != nil {
					t.Fatal(err)
				}
				tr, _ := json.Marshal(fetch.Report{Elapsed: e.took})
				if err := db.FinishHistory(ctx, state.HistoryEnd{ID: id, Result: state.ResultOK, Downloaded: e.bytes, Transfer: tr}); err != nil {
					t.Fatal(err)
				}
			}
			if rate, from := c.pastRate(ctx, db); rate != tt.rate || from != tt.from {
				t.Errorf("pastRate = %d from %d; want %d from %d", rate, from, tt.rate, tt.from)
			}
		})
	}
}

// TestDryRunHTTPColumn: the dry run's HTTP column says whether a server's
// /packages/ would serve the archive as a web seed or only as a last
// resort; it was "WEB SEED yes" for both, which a newcomer read as a web
// seed that would serve the download.
func TestDryRunHTTPColumn(t *testing.T) {
	var out buftest.Buffer
	c := &Client{UI: ui.New(&out, &out, false)}
	c.printDryRun(&DryRun{Download: 3 << 10, Packages: []Availability{
		{Name: "a", Version: "1.0.0", Size: 1 << 10, Seeders: 1, SeederReachable: true, WebSeed: true, WebSeedLastResort: true, OK: true},
		{Name: "b", Version: "1.0.0", Size: 1 << 10, Seeders: 0, WebSeed: true, OK: true},
		{Name: "c", Version: "1.0.0", Size: 1 << 10, Seeders: -1},
		{Name: "d", Version: "1.0.0", Size: 1 << 10, Cached: true, OK: true},
		{Name: "e", Version: "1.0.0", Size: 1 << 10, Seeders: -1, WebSeedBusy: true, OK: true},
	}})
	for _, want := range []string{
		`(?m)^PACKAGE +SIZE +FROM +SEEDERS/PEERS +PUBLISHER +HTTP +AVAILABLE$`,
		`(?m)^a 1\.0\.0 +1\.0 KiB +network +1/0 +yes +last resort +yes$`,
		`(?m)^b 1\.0\.0 +1\.0 KiB +network +0/0 +no +web seed +yes$`,
		`(?m)^c 1\.0\.0 +1\.0 KiB +network +\? +no +no +no$`,
		`(?m)^d 1\.0\.0 +1\.0 KiB +cached +- +- +- +yes$`,
		`(?m)^e 1\.0\.0 +1\.0 KiB +network +\? +no +busy +yes$`,
		`(?m)^busy: a server asked to retry later \(HTTP 503 or 429 with Retry-After\); the install waits for it, at most 1m0s$`,
		`(?m)^HTTP: a server's /packages/ has the archive, as a web seed \(asked when peers send little\) or as a last resort \(asked only when BitTorrent has no source\)$`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("output does not match %s:\n%s", want, out.String())
		}
	}
}

package clientcli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/manifest"
	"github.com/distpac/distpac/internal/ui"
)

// TestPickRow: info shows the version install would pick, on a catalog
// that holds builds differing only in metadata (old catalogs may): the
// first of them unless the request names a build.
func TestPickRow(t *testing.T) {
	var rows []catalog.Package // in the catalog's order
	for _, v := range []string{"0.9.0", "1.0.0", "1.0.0+a", "1.0.0+b", "2.0.0-rc.1"} {
		rows = append(rows, catalog.Package{Name: "bm", Version: v})
	}
	tests := []struct {
		request string
		want    string
		wantErr string
	}{
		{"bm", "1.0.0", ""},
		{"bm@1.0.0", "1.0.0", ""},
		{"bm@^1", "1.0.0", ""},
		{"bm@1.0.0+a", "1.0.0+a", ""},
		{"bm@1.0.0+b", "1.0.0+b", ""},
		{"bm@0.9.0", "0.9.0", ""},
		{"bm@>=2.0.0-rc.0", "2.0.0-rc.1", ""},
		{"bm@1.0.0+c", "", "no version of bm is exactly 1.0.0+c (build metadata must match; there are 1.0.0, 1.0.0+a, 1.0.0+b)"},
		{"bm@3.0.0", "", "no version 3.0.0 of bm (available: 0.9.0, 1.0.0, 1.0.0+a, 1.0.0+b, 2.0.0-rc.1)"},
	}
	for _, tt := range tests {
		req, err := manifest.ParseRequest(tt.request)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pickRow(rows, req)
		switch {
		case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
			t.Errorf("pickRow(%s) = %s, %v; want error %s", tt.request, got.Version, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || got.Version != tt.want):
			t.Errorf("pickRow(%s) = %s, %v; want %s", tt.request, got.Version, err, tt.want)
		}
	}
	// Only pre-releases: a bare name shows the newest of them.
	if got, err := pickRow(rows[4:], manifest.Dependency{Name: "bm"}); err != nil || got.Version != "2.0.0-rc.1" {
		t.Errorf("pickRow(bm) of pre-releases = %s, %v", got.Version, err)
	}
}

// A history row's result: an error's first line, and when it ends in a
// colon (a failed script's last output follows) the next line too; it
// ended in a bare colon.
func TestResultLine(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"no package named \"helo\"", "no package named \"helo\""},
		{"first\nsecond", "first"},
		{"install.sh exited with status 3; last output (all of it in /x/scripts.log):\n  oops\n", "install.sh exited with status 3; last output (all of it in /x/scripts.log): oops"},
		{"status 3; last output (all of it in /x/scripts.log):\n  one\n  two", "status 3; last output (all of it in /x/scripts.log): one …"},
		{"ends in a colon:", "ends in a colon:"},
	} {
		if got := resultLine(tt.in); got != tt.want {
			t.Errorf("resultLine(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// status shows what sync.json says without letting it reach the terminal
// as escape sequences, and a sync time in the future as such (it printed
// "synced -2562047h47m16.854775808s ago"; an attacker's run).
func TestStatusCatalogLine(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		cat    catalogclient.Status
		want   string
		unwant string
	}{
		{"plain", catalogclient.Status{Serial: 3, Packages: 2, ServerURL: "http://h:1", SyncedAt: now.Add(-150 * time.Second), ValidUntil: now.Add(time.Hour)},
			"from http://h:1, synced 2m ago,", ""},
		{"escapes quoted", catalogclient.Status{ServerURL: "http://h\x1b[31m", SyncedAt: now.Add(-time.Second), ValidUntil: now.Add(time.Hour)},
			`from "http://h\x1b[31m", synced 1s ago`, "\x1b"},
		{"sync.json damaged", catalogclient.Status{ValidUntil: now.Add(time.Hour), StateErr: "/x/sync.json: unexpected end of JSON input (the next sync writes it again)"},
			"from an unknown server, never synced", ""},
		{"in the future", catalogclient.Status{ServerURL: "http://h", SyncedAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), ValidUntil: now.Add(time.Hour)},
			"synced in the future (9999-01-01", " ago"},
	} {
		var out bytes.Buffer
		e := &env{Global: cli.Global{UI: ui.New(&out, &out, false)}}
		printStatus(e, clientStatus{Catalog: &tt.cat}, now)
		line := ""
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, "catalog:") {
				line = l
			}
		}
		if !strings.Contains(line, tt.want) || tt.unwant != "" && strings.Contains(strings.SplitN(line, "from", 2)[1], tt.unwant) {
			t.Errorf("%s: %q; want %q in it, no %q", tt.name, line, tt.want, tt.unwant)
		}
		if tt.cat.StateErr != "" && !strings.Contains(out.String(), "warning: "+tt.cat.StateErr) {
			t.Errorf("%s: no warning of the damaged sync.json:\n%s", tt.name, out.String())
		}
	}
}

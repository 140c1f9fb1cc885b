package clientcli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/state"
)

// TestListInstalledJSON: list --installed --json names the installed size
// installed_size (search, list and info give the archive's as size), has
// every boolean whether true or false (auto and has_uninstall came only
// when true, so jq 'select(.auto == false)' found nothing) and the text's
// REASON as reason.
func TestListInstalledJSON(t *testing.T) {
	ctx := context.Background()
	dir, prefix, cfg := clientHome(t)
	db, err := state.Open(ctx, filepath.Join(dir, "installed.db"), prefix)
	if err != nil {
		t.Fatal(err)
	}
	rec := func(name string, auto, unin bool, deps ...string) state.Package {
		return state.Package{Record: state.Record{Name: name, Version: "1.0.0", Auto: auto, HasUninstall: unin, Depends: deps,
			Archive: name + "-1.0.0.tar.zst", SHA256: strings.Repeat("ab", 32), Size: 71, Prefix: prefix, FilesKnown: true,
			InstalledAt: time.Unix(1_700_000_000, 0).UTC()}}
	}
	err = db.Commit(ctx, state.Change{Put: []state.Package{rec("mylib", true, false), rec("mytool", false, true, "mylib ^1.0")}})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	if code := Main(ctx, []string{"--config", cfg, "list", "--installed", "--json"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, &errOut)
	}
	var got []map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got) != 2 {
		t.Fatalf("%v: %s", err, &out)
	}
	want := []map[string]any{
		{"name": "mylib", "reason": "dependency", "auto": true, "held": false, "has_uninstall": false, "installed_size": 71.0, "depends": []any{}, "untracked": []any{}},
		{"name": "mytool", "reason": "explicit", "auto": false, "held": false, "has_uninstall": true, "installed_size": 71.0, "depends": []any{"mylib ^1.0"}},
	}
	for i, w := range want {
		for k, v := range w {
			g, ok := got[i][k]
			if gj, wj := mustJSON(t, g), mustJSON(t, v); !ok || gj != wj {
				t.Errorf("%s: %q = %s (present %v), want %s", w["name"], k, gj, ok, wj)
			}
		}
		if s, ok := got[i]["size"]; ok {
			t.Errorf("%s: has \"size\" (%v), which search --json gives as the archive's size", w["name"], s)
		}
	}

	// info of a record the catalog lacks (here: none synced) has the
	// installed size as installed_size, and no archive size.
	out.Reset()
	errOut.Reset()
	if code := Main(ctx, []string{"--config", cfg, "info", "--json", "mytool"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("info: exit %d: %s", code, &errOut)
	}
	var info map[string]any
	if err := json.Unmarshal(out.Bytes(), &info); err != nil {
		t.Fatalf("info: %v: %s", err, &out)
	}
	if info["installed_size"] != 71.0 || info["size"] != nil {
		t.Errorf("info --json of a record: installed_size %v, size %v; want 71 and null", info["installed_size"], info["size"])
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

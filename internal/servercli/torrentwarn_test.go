package servercli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/server"
	"github.com/distpac/distpac/internal/ui"
)

// A catalog an older dist-server made of a public_url holding a password
// keeps it in its torrents (web seed, trackers) after server.yaml refuses
// such a URL: start and status say which packages carry one, masked, and
// the fix; a clean catalog gets no word. The password is never shown.
func TestWarnCredentialsInTorrents(t *testing.T) {
	const secret = "s3cret"
	tests := []struct {
		name string
		edit map[string]func(*metainfo.MetaInfo) // by package name
		want string
	}{
		{name: "clean"},
		{
			name: "a web seed and a tracker with a password",
			edit: map[string]func(*metainfo.MetaInfo){
				"first": func(mi *metainfo.MetaInfo) { mi.UrlList = []string{"http://u:" + secret + "@127.0.0.1:9090/packages/"} },
				"second": func(mi *metainfo.MetaInfo) {
					mi.Announce = "http://u:" + secret + "@127.0.0.1:9/announce"
					mi.AnnounceList = [][]string{{mi.Announce}}
				},
			},
			want: "warning: 2 published packages with a user or password in a torrent's tracker or web seed URL (first@1.0.0, second@1.0.0; http://u:xxxxx@127.0.0.1:9090/packages/), written by an older dist-server from public_url or announce_url: every client can read them; dist-server remove and add them again to publish them without, and change that password\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			t.Setenv("XDG_DATA_HOME", data)
			sp := paths.Home{Root: filepath.Join(data, "distpac")}.Server()
			cfgPath := filepath.Join(t.TempDir(), "server.yaml")
			os.WriteFile(cfgPath, []byte("announce_url: \"http://127.0.0.1:9/announce\"\n"), 0o644)
			for _, name := range []string{"first", "second", "third"} {
				var stdout, stderr bytes.Buffer
				if code := Main(context.Background(), []string{"--config", cfgPath, "add", writePackage(t, name)}, strings.NewReader(""), &stdout, &stderr); code != 0 {
					t.Fatalf("add %s: exit %d: %s", name, code, stderr.String())
				}
			}
			for name, edit := range tt.edit {
				editTorrent(t, sp.Catalog(), name, edit)
			}
			cfg, err := config.LoadServer(cfgPath, false)
			if err != nil {
				t.Fatal(err)
			}

			var out, errOut bytes.Buffer
			warnTorrents(context.Background(), &env{cli.Global{UI: ui.New(&out, &errOut, false)}}, cfg, sp)
			if errOut.String() != tt.want || out.Len() != 0 {
				t.Errorf("start said:\n%s\nwant:\n%s\nstdout: %q", errOut.String(), tt.want, out.String())
			}

			// status, of a running server (its run lock held, its
			// control endpoint answering), says it too.
			fakeRunning(t, sp, server.Info{}, func(w http.ResponseWriter, _ *http.Request) {
				json.NewEncoder(w).Encode(server.Status{Serial: 3, Packages: 3})
			})
			var stdout, stderr bytes.Buffer
			if code := Main(context.Background(), []string{"--config", cfgPath, "status"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
				t.Fatalf("status: exit %d: %s", code, stderr.String())
			}
			if stderr.String() != tt.want {
				t.Errorf("status said:\n%s\nwant:\n%s", stderr.String(), tt.want)
			}
			if all := errOut.String() + stdout.String() + stderr.String(); strings.Contains(all, secret) {
				t.Errorf("the password was shown:\n%s", all)
			}
		})
	}
}

// editTorrent rewrites the torrent of package name in the catalog at path
// with edit, its info kept, as an older dist-server wrote it.
func editTorrent(t *testing.T, path, name string, edit func(*metainfo.MetaInfo)) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b []byte
	if err := db.QueryRow(`SELECT torrent FROM packages WHERE name = ?`, name).Scan(&b); err != nil {
		t.Fatal(err)
	}
	var mi metainfo.MetaInfo
	if err := bencode.Unmarshal(b, &mi); err != nil {
		t.Fatal(err)
	}
	edit(&mi)
	if _, err := db.Exec(`UPDATE packages SET torrent = ? WHERE name = ?`, bencode.MustMarshal(mi), name); err != nil {
		t.Fatal(err)
	}
}

package servercli

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/nettest"
)

// The URL to follow is the server's base URL; the URL of a file it serves
// is refused with the base URL to give instead.
func TestCheckPrimaryURL(t *testing.T) {
	tests := []struct {
		url  string
		want string // "" when accepted
	}{
		{"http://127.0.0.1:9090", ""},
		{"https://packages.example.org/distpac/", ""},
		{"http://127.0.0.1:9090/packages.db", `mirror: "http://127.0.0.1:9090/packages.db" is the URL of a file the server serves (packages.db): give the server's base URL (its public_url): http://127.0.0.1:9090`},
		{"https://example.org/distpac/packages.db.sig", `mirror: "https://example.org/distpac/packages.db.sig" is the URL of a file the server serves (packages.db.sig): give the server's base URL (its public_url): https://example.org/distpac`},
		{"http://h/packages.db.rotation/", `mirror: "http://h/packages.db.rotation/" is the URL of a file the server serves (packages.db.rotation): give the server's base URL (its public_url): http://h`},
		{"http://h/key", `mirror: "http://h/key" is the URL of a file the server serves (key): give the server's base URL (its public_url): http://h`},
		{"ftp://h", `mirror: "ftp://h": want the primary's URL, http://HOST[:PORT] or https://…`},
	}
	for _, tt := range tests {
		err := checkPrimaryURL(tt.url)
		var u *cli.UsageError
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v, want it accepted", tt.url, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want || !errors.As(err, &u)):
			t.Errorf("%s: %v, want the usage error\n  %s", tt.url, err, tt.want)
		}
	}
}

// A mirror warns of the server.yaml keys it does not use (a newcomer set
// tracker_addr, public_url and web_seed for a mirror and was told
// nothing); keys left to their defaults are not named.
func TestMirrorIgnores(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want []string
	}{
		{"database_addr: \"127.0.0.1:9091\"\npeer_addr: \"127.0.0.1:0\"\nupload_rate_limit: \"1MiB\"\n", nil},
		{"", nil},
		{"tracker_addr: \"127.0.0.1:7000\"\ndatabase_addr: \"127.0.0.1:9091\"\npublic_url: \"http://m.example\"\nweb_seed: true\n",
			[]string{"tracker_addr", "public_url", "web_seed"}},
		{"metrics_addr: \"127.0.0.1:9100\"\ncatalog_valid_for: 1h\n", []string{"catalog_valid_for"}},
		{"public_url:\nweb_seed:\n", nil}, // null: the default, as if absent
	} {
		path := filepath.Join(t.TempDir(), "server.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := mirrorIgnores(path); !slices.Equal(got, tc.want) {
			t.Errorf("%q: ignored %q, want %q", tc.yaml, got, tc.want)
		}
	}
}

// TestPrimaryHintOfThePrimaryThatRefused: of two primaries, one given a
// password and one not, the hint is about the one that refused: "refused
// those in its URL: check them" of one given none, and "the password was
// taken" of a 403 of one given none, sent the user to a password that
// does not exist. The errors come from real syncs.
func TestPrimaryHintOfThePrimaryThatRefused(t *testing.T) {
	asks, forbids, fails := nettest.Answering(t, http.StatusUnauthorized), nettest.Answering(t, http.StatusForbidden), nettest.Answering(t, http.StatusInternalServerError)
	for _, tc := range []struct {
		name      string
		primaries []string
		want      string
	}{
		{"401 from the one without, the other with", []string{"http://" + asks, "http://u:pw@" + fails},
			"the primary http://" + asks + "/packages.db asks for a user and password (HTTP basic auth): give them in its URL, as http(s)://USER:PASSWORD@HOST[:PORT], in " + primaryURLsEnv + " rather than on the command line, which every user of this host can read"},
		{"401 from the one with, the other without", []string{"http://" + fails, "http://u:pw@" + asks},
			"the primary http://u:xxxxx@" + asks + "/packages.db asks for a user and password (HTTP basic auth) and refused those in its URL: check them"},
		{"403 from the one without, the other with", []string{"http://" + forbids, "http://u:pw@" + fails},
			"http://" + forbids + "/packages.db refuses the request (403 Forbidden: the server forbids that path, or allows only some users or addresses): check the URL given to dist-server mirror, or ask the primary's administrator to allow this mirror"},
		{"403 from the one with, the other without", []string{"http://" + fails, "http://u:pw@" + forbids},
			"http://u:xxxxx@" + forbids + "/packages.db refuses this user (403 Forbidden: the password was taken, and the user is not allowed there): ask the primary's administrator to allow the mirror's user, or check the user and URL given to dist-server mirror"},
	} {
		_, err := catalogclient.Sync(context.Background(), catalogclient.Options{ServerURLs: tc.primaries, Dir: t.TempDir()})
		if err == nil {
			t.Fatalf("%s: the sync worked", tc.name)
		}
		if got := primaryHint(tc.primaries, err); got != tc.want {
			t.Errorf("%s: primaryHint for %v =\n %q, want\n %q", tc.name, err, got, tc.want)
		}
	}
}

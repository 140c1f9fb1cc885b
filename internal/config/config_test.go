package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/units"
)

// writeFile writes content to name in a fresh temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServerDefaults(t *testing.T) {
	want := &Server{
		AnnounceURL:  "http://127.0.0.1:6969/announce",
		PublicURL:    "http://127.0.0.1:9090",
		DatabaseAddr: ":9090",
		TrackerAddr:  ":6969",
		PeerAddr:     ":6881",

		CatalogValidFor: Duration(7 * 24 * time.Hour),
	}
	missing := filepath.Join(t.TempDir(), "server.yaml")
	for name, path := range map[string]string{
		"missing file":  missing,
		"no path":       "",
		"empty file":    writeFile(t, "server.yaml", ""),
		"only comments": writeFile(t, "server.yaml", "# nothing here\n\n"),
		"null document": writeFile(t, "server.yaml", "~\n"),
		"null values":   writeFile(t, "server.yaml", "database_addr:\nupload_rate_limit:\nweb_seed:\ncatalog_valid_for:\n"),
		"7 days":        writeFile(t, "server.yaml", "catalog_valid_for: 7d\n"),
		"168 hours":     writeFile(t, "server.yaml", "catalog_valid_for: \"168h\"\n"),
		"empty rate":    writeFile(t, "server.yaml", "upload_rate_limit: \"\"\n"),
		"empty time":    writeFile(t, "server.yaml", "catalog_valid_for: \"\"\n"),
	} {
		got, err := LoadServer(path, true)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got.lines = nil // where the file sets the keys (TestKeyLines)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", name, got, want)
		}
	}
}

func TestServerDerivedURLs(t *testing.T) {
	tests := []struct {
		yaml, announce, public string
	}{
		{"tracker_addr: \"0.0.0.0:7000\"\ndatabase_addr: \"[::]:8000\"", "http://127.0.0.1:7000/announce", "http://127.0.0.1:8000"},
		{"tracker_addr: \"10.0.0.5:7000\"\ndatabase_addr: \"[fe80::1]:8000\"", "http://10.0.0.5:7000/announce", "http://[fe80::1]:8000"},
		{"tracker_addr: \"localhost:7000\"\npublic_url: \"https://cdn.example.org/distpac/\"", "http://localhost:7000/announce", "https://cdn.example.org/distpac"},
	}
	for _, tt := range tests {
		s, err := LoadServer(writeFile(t, "server.yaml", tt.yaml), false)
		if err != nil {
			t.Errorf("%q: %v", tt.yaml, err)
			continue
		}
		if s.AnnounceURL != tt.announce || s.PublicURL != tt.public {
			t.Errorf("%q: announce %q public %q; want %q %q", tt.yaml, s.AnnounceURL, s.PublicURL, tt.announce, tt.public)
		}
	}
}

func TestClientDefaults(t *testing.T) {
	t.Setenv("HOME", "/home/tester")
	want := &Client{
		ServerURL: "http://127.0.0.1:9090",
		Prefix:    "/home/tester/.local",
		PeerAddr:  ":0",
		Seed:      SeedCached,
	}
	for name, path := range map[string]string{
		"missing file": filepath.Join(t.TempDir(), "client.yaml"),
		"empty file":   writeFile(t, "client.yaml", ""),
		"null values":  writeFile(t, "client.yaml", "server_url:\nprefix:\n"),
		// As the README's client.yaml shows them: empty is no limit.
		"empty limits": writeFile(t, "client.yaml", "upload_rate_limit: \"\"\nseed_time_limit: \"\"\ncache_max_size: \"\"\n"),
	} {
		got, err := LoadClient(path, true)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", name, got, want)
		}
	}
}

func TestClientPrefix(t *testing.T) {
	t.Setenv("HOME", "/home/tester")
	for in, want := range map[string]string{
		`"~"`:           "/home/tester", // bare ~ is YAML null: quoted
		"~":             "/home/tester/.local",
		"~/":            "/home/tester",
		"~/opt/distpac": "/home/tester/opt/distpac",
		"/usr/local":    "/usr/local",
		"/opt/p/":       "/opt/p", // a trailing slash made install refuse every file
		"/opt//p/./":    "/opt/p",
	} {
		c, err := LoadClient(writeFile(t, "client.yaml", "prefix: "+in+"\n"), false)
		if err != nil {
			t.Errorf("prefix %q: %v", in, err)
			continue
		}
		if c.Prefix != want {
			t.Errorf("prefix %q: got %q, want %q", in, c.Prefix, want)
		}
	}

	// Without HOME (a root service under systemd), the error says what
	// to set, and that ~/.local is the default when the file has no prefix.
	t.Setenv("HOME", "")
	for in, want := range map[string]string{
		"":                `key "prefix": cannot expand "~/.local" (the default when the file sets none): $HOME is not set; set prefix to an absolute path, such as /opt/distpac`,
		"prefix: ~/opt\n": `key "prefix": cannot expand "~/opt": $HOME is not set; set prefix to an absolute path, such as /opt/distpac`,
	} {
		_, err := LoadClient(writeFile(t, "client.yaml", in), true)
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("without HOME, %q: got %v, want %s", in, err, want)
		}
	}
}

func TestServerLists(t *testing.T) {
	c, err := LoadClient(writeFile(t, "client.yaml", "server_urls:\n  - http://mirror:9090/\n  - https://cdn.example.org/distpac//\nprefix: /opt\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Servers(), []string{"http://mirror:9090", "https://cdn.example.org/distpac"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Servers() = %q, want %q", got, want)
	}
	if c.ServerURL != "" {
		t.Errorf("server_url = %q, want none beside server_urls", c.ServerURL)
	}
	c, err = LoadClient(writeFile(t, "client.yaml", "prefix: /opt\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Servers(), []string{DefaultServerURL}; !reflect.DeepEqual(got, want) {
		t.Errorf("default Servers() = %q, want %q", got, want)
	}

	s, err := LoadServer(writeFile(t, "server.yaml", "announce_urls: [\"http://127.0.0.1:1/announce\", \"http://t2:6969/announce\"]\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Trackers(), []string{"http://127.0.0.1:1/announce", "http://t2:6969/announce"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Trackers() = %q, want %q", got, want)
	}
	if s.AnnounceURL != "" {
		t.Errorf("announce_url = %q, want none beside announce_urls", s.AnnounceURL)
	}
	s, err = LoadServer("", true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Trackers(), []string{"http://127.0.0.1:6969/announce"}; !reflect.DeepEqual(got, want) {
		t.Errorf("default Trackers() = %q, want %q", got, want)
	}
}

func TestExampleFiles(t *testing.T) {
	t.Setenv("HOME", "/home/tester")
	s, err := LoadServer("testdata/server.yaml", false)
	if err != nil {
		t.Fatal(err)
	}
	wantS := &Server{
		AnnounceURL:      "http://packages.example.org:6969/announce",
		PublicURL:        "http://packages.example.org:9090",
		DatabaseAddr:     ":9090",
		TrackerAddr:      ":6969",
		PeerAddr:         ":6881",
		UploadRateLimit:  10 * units.MiB,
		WebSeed:          true,
		MetricsAddr:      "127.0.0.1:9100",
		TrackerWhitelist: "/var/lib/distpac/whitelist",
		CatalogValidFor:  Duration(168 * time.Hour),
	}
	s.lines = nil // TestKeyLines
	if !reflect.DeepEqual(s, wantS) {
		t.Errorf("server example: got %+v, want %+v", s, wantS)
	}

	c, err := LoadClient("testdata/client.yaml", false)
	if err != nil {
		t.Fatal(err)
	}
	wantC := &Client{
		ServerURL:         "http://packages.example.org:9090",
		ServerKey:         "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
		Prefix:            "/home/tester/.local",
		PeerAddr:          ":6882",
		UploadRateLimit:   units.MiB,
		DownloadRateLimit: 50 * units.MB,
		Seed:              SeedInstalled,
		SeedRatioLimit:    2.5,
		SeedTimeLimit:     Duration(72 * time.Hour),
		CacheMaxSize:      2 * units.GiB,
		MetricsAddr:       "127.0.0.1:9101",
	}
	if !reflect.DeepEqual(c, wantC) {
		t.Errorf("client example: got %+v, want %+v", c, wantC)
	}
	key, err := c.PublicKey()
	if err != nil || len(key) != 32 {
		t.Errorf("PublicKey() = %x, %v", key, err)
	}
}

// The example files must mention every key, so they stay the reference.
func TestExampleFilesCoverEveryKey(t *testing.T) {
	for file, v := range map[string]any{"testdata/server.yaml": &Server{}, "testdata/client.yaml": &Client{}} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for key := range fieldsByTag(v) {
			// A key that excludes another is shown commented out.
			if !strings.Contains(string(data), "\n"+key+":") && !strings.Contains(string(data), "\n# "+key+":") {
				t.Errorf("%s lacks key %q", file, key)
			}
		}
	}
}

func TestServerErrors(t *testing.T) {
	tests := []struct {
		yaml string
		line int // the line named, 0 for none: "<path>:<line>: <want>", "<path>: <want>"
		want string
	}{
		{"upload_rate_limit: fast", 1, `key "upload_rate_limit": "fast" is not a size: want a number and a unit (B, KiB, MiB, GiB, kB, MB, GB)`},
		{"upload_rate_limit: -1", 1, `key "upload_rate_limit": "-1" is not a size: must not be negative`},
		{"upload_rate_limit: [1]", 1, `key "upload_rate_limit": want a size like "10MiB", got a list`},
		{"web_sed: true", 1, `unknown key "web_sed" (did you mean "web_seed"?)`},
		{"colour: blue", 1, `unknown key "colour"`},
		{"web_seed: yes", 1, `key "web_seed": want true or false, got "yes"`},
		{"web_seed: [true]", 1, `key "web_seed": want true or false, got a list`},
		{"database_addr: 9090", 1, `key "database_addr": want host:port (like ":9090"), got "9090"`},
		{"tracker_addr: \":http\"", 1, `key "tracker_addr": port "http" in ":http": want a number from 0 to 65535`},
		{"peer_addr: \":70000\"", 1, `key "peer_addr": port "70000" in ":70000": want a number from 0 to 65535`},
		{"peer_addr: {a: b}", 1, `key "peer_addr": want a string, got a mapping`},
		{"public_url: example.org", 1, `key "public_url": "example.org": want a URL starting with http:// or https://`},
		{"public_url: \"127.0.0.1:9090\"", 1, `key "public_url": "127.0.0.1:9090" has no scheme: want a URL, like http://127.0.0.1:9090`},
		{"public_url: \"example.org:80\"", 1, `key "public_url": "example.org:80" has no scheme: want a URL, like http://example.org:80`},
		{"public_url: ftp://example.org", 1, `key "public_url": "ftp://example.org": want a URL starting with http:// or https://`},
		{"public_url: \"http://\"", 1, `key "public_url": "http://": URL has no host`},
		{"public_url: https://cdn.example.org/distpac/packages.db", 1, `key "public_url": "https://cdn.example.org/distpac/packages.db" is the URL of a file the server serves (packages.db): give the server's base URL (its public_url): https://cdn.example.org/distpac`},
		{"announce_url: \"http://h:99999/announce\"", 1, `key "announce_url": "http://h:99999/announce": port "99999": want a number from 0 to 65535`},
		{"announce_url: \"wss://h/announce\"", 1, `key "announce_url": "wss://h/announce": want a URL starting with http:// or https://`},
		{"announce_url: udp://tracker.example.org:6969/announce", 1, `key "announce_url": "udp://tracker.example.org:6969/announce": want a URL starting with http:// or https://`},
		{"announce_url: \"http://[::1\"", 1, `key "announce_url": "http://[::1" is not a URL`},
		{"peer_addr: \":1\"\npeer_addr: \":2\"", 2, `key "peer_addr": given twice (first at line 1)`},
		{"- a\n- b", 1, `want a mapping of keys to values, got a list`},
		{"just text", 1, `want a mapping of keys to values, got "just text"`},
		{"[a]: b", 1, `want a key name, got a list`},
		{"a: b\n---\nc: d", 2, `more than one YAML document; want one mapping of keys to values`},
		{"web_seed: true\n  bad: indent", 2, `mapping values are not allowed in this context (a line indented more than the key before it, or a value with ": " in it? each key starts its line, as the others do, as "key: value"; quote a value that holds ": ")`},
		{"web_seed:true", 1, `want a mapping of keys to values, got "web_seed:true" (write each key as "key: value", with a space after the colon)`},
		{"catalog_valid_for: week", 1, `key "catalog_valid_for": "week" is not a duration: want hours, minutes and seconds ("168h", "90m", "3s") or whole days ("7d")`},
		{"catalog_valid_for: 1.5d", 1, `key "catalog_valid_for": "1.5d" is not a duration: want whole days ("7d") or hours, minutes and seconds ("168h", "90m", "3s")`},
		{"catalog_valid_for: 1s", 1, `key "catalog_valid_for": 1s is out of range: want from 2s to 366d`},
		{"catalog_valid_for: 400d", 1, `key "catalog_valid_for": 400d is out of range: want from 2s to 366d`},
		{"catalog_valid_for: -3s", 1, `key "catalog_valid_for": -3s is out of range: want from 2s to 366d`},
		{"announce_urls: [\"http://a/announce\"]\nannounce_url: http://b/announce", 2, `keys "announce_url" and "announce_urls" are both set: keep one (announce_urls lists every tracker, the first tried first)`},
		{"announce_urls: http://a/announce", 1, `key "announce_urls": want a list (one "- value" line each), got "http://a/announce"`},
		{"announce_urls: [http://a/announce, udp://b:1/announce]", 1, `key "announce_urls": entry 2: "udp://b:1/announce": want a URL starting with http:// or https://`},
		{"announce_urls: [http://a/announce, {b: c}]", 1, `key "announce_urls": entry 2: want a string, got a mapping`},
		{"announce_urls: [http://a/announce, \"\"]", 1, `key "announce_urls": entry 2: want a string, got ""`},
		{"announce_urls: []", 1, `key "announce_urls": an empty list: give at least one entry, or leave the key out for the default`},
		{"announce_url: [http://a/announce]", 1, `key "announce_url": want a string, got a list (announce_urls lists several)`},
		{"announce_urls: [http://a/x, http://b/x, http://a/x]", 1, `key "announce_urls": entry 3: "http://a/x" is entry 1 too`},
		{"announce_urls: [a1, a2, a3, a4, a5, a6, a7, a8, a9]", 1, `key "announce_urls": 9 URLs, at most 8`},
		{"tracker_whitelist: whitelist.txt", 1, `key "tracker_whitelist": want an absolute path, got "whitelist.txt"`},
		{"catalog_valid_for: [3s]", 1, `key "catalog_valid_for": want a duration like "168h", got a list`},
		// A user or password in a URL the server publishes: every torrent
		// and the catalog would carry it, for every client to read.
		{"public_url: https://u:secret@repo.example/", 1, `key "public_url": "https://u:xxxxx@repo.example" holds a user and password: public_url goes into every torrent and the catalog, which every client reads, so it would publish them: give it without (clients of a private repository write their own user and password in their server_url)`},
		{"public_url: https://token@repo.example", 1, `key "public_url": "https://token@repo.example" holds a user name: public_url goes into every torrent and the catalog, which every client reads, so it would publish them: give it without (clients of a private repository write their own user and password in their server_url)`},
		{"announce_url: http://u:secret@t.example/announce", 1, `key "announce_url": "http://u:xxxxx@t.example/announce" holds a user and password: announce_url goes into every torrent and the catalog, which every client reads, so it would publish them: give it without (clients of a private repository write their own user and password in their server_url)`},
		// A trailing slash alone: the same tracker, and no password.
		{"announce_urls: [http://t/announce, http://t/announce/]", 1, `key "announce_urls": entry 2: "http://t/announce/" is entry 1 too`},
		{"announce_urls: [http://a/announce, \"http://u:secret@b/announce\"]", 1, `key "announce_urls": entry 2: "http://u:xxxxx@b/announce" holds a user and password: announce_urls goes into every torrent and the catalog, which every client reads, so it would publish them: give it without (clients of a private repository write their own user and password in their server_url)`},
	}
	for _, tt := range tests {
		path := writeFile(t, "server.yaml", tt.yaml)
		_, err := LoadServer(path, true)
		want := path + ": " + tt.want
		if tt.line > 0 {
			want = fmt.Sprintf("%s:%d: %s", path, tt.line, tt.want)
		}
		if err == nil || err.Error() != want {
			t.Errorf("%q:\n got  %v\n want %s", tt.yaml, err, want)
		}
	}
}

func TestClientErrors(t *testing.T) {
	t.Setenv("HOME", "/home/tester")
	tests := []struct {
		yaml string
		line int // the line named, 0 for none: "<path>:<line>: <want>", "<path>: <want>"
		want string
	}{
		{"server_ulr: http://x", 1, `unknown key "server_ulr" (did you mean "server_url"?)`},
		{"server_url: localhost:9090", 1, `key "server_url": "localhost:9090" has no scheme: want a URL, like http://localhost:9090`},
		{"server_key: abc", 1, `key "server_key": not an ed25519 public key: want standard base64 (as ` + "`dist-server key`" + ` prints)`},
		{"server_key: \"ed25519:AAAA\"", 1, `key "server_key": not an ed25519 public key: 3 bytes, want 32`},
		{"prefix: relative/dir", 1, `key "prefix": want an absolute path or one starting with ~/, got "relative/dir"`},
		{"prefix: ~alice/x", 1, `key "prefix": want an absolute path or one starting with ~/, got "~alice/x"`},
		{"peer_addr: nope", 1, `key "peer_addr": want host:port (like ":9090"), got "nope"`},
		{"upload_rate_limit: 1.5", 1, `key "upload_rate_limit": "1.5" is not a size: a fraction needs a unit (B, KiB, MiB, GiB, kB, MB, GB)`},
		{"download_rate_limit: 10 MB/h", 1, `key "download_rate_limit": "10 MB/h" is not a size: want a number and a unit (B, KiB, MiB, GiB, kB, MB, GB)`},
		{"seed: always", 1, `key "seed": "always": want "installed", "cached" or "none"`},
		{"seed_ratio_limit: -1", 1, `key "seed_ratio_limit": -1: want 0 (no limit) or more`},
		{"seed_ratio_limit: lots", 1, `key "seed_ratio_limit": want a number, got "lots"`},
		{"seed_ratio_limit: .nan", 1, `key "seed_ratio_limit": want a number, got ".nan"`},
		{"seed_time_limit: soon", 1, `key "seed_time_limit": "soon" is not a duration: want hours, minutes and seconds ("168h", "90m", "3s") or whole days ("7d")`},
		{"cache_max_size: huge", 1, `key "cache_max_size": "huge" is not a size: want a number and a unit (B, KiB, MiB, GiB, kB, MB, GB)`},
		{"metrics_addr: nope", 1, `key "metrics_addr": want host:port (like ":9090"), got "nope"`},
		{"server_url: http://a\nserver_urls: [http://b]", 2, `keys "server_url" and "server_urls" are both set: keep one (server_urls lists every server, tried in order)`},
		{"server_urls: [http://a, localhost:9090]", 1, `key "server_urls": entry 2: "localhost:9090" has no scheme: want a URL, like http://localhost:9090`},
		{"server_urls: [http://a/, http://a]", 1, `key "server_urls": entry 2: "http://a" is entry 1 too`},
		{"server_urls: {a: b}", 1, `key "server_urls": want a list (one "- value" line each), got a mapping`},
		{"server_urls: []", 1, `key "server_urls": an empty list: give at least one entry, or leave the key out for the default`},
		{"server_url: [http://a, http://b]", 1, `key "server_url": want a string, got a list (server_urls lists several)`},
		{"server_urls:\n  - http://a\n  -\n", 1, `key "server_urls": entry 2: want a string, got ""`},
		// The URL of a file the server serves, not its base URL: sync
		// asked for .../packages.db/packages.db.
		{"server_url: http://127.0.0.1:9090/packages.db", 1, `key "server_url": "http://127.0.0.1:9090/packages.db" is the URL of a file the server serves (packages.db): give the server's base URL (its public_url): http://127.0.0.1:9090`},
		{"server_url: https://example.org/distpac/packages.db.sig/", 1, `key "server_url": "https://example.org/distpac/packages.db.sig" is the URL of a file the server serves (packages.db.sig): give the server's base URL (its public_url): https://example.org/distpac`},
		{"server_urls: [http://a, http://b:9090/packages.db]", 1, `key "server_urls": entry 2: "http://b:9090/packages.db" is the URL of a file the server serves (packages.db): give the server's base URL (its public_url): http://b:9090`},
		// A password in the URL is quoted masked (redact.URL).
		{"server_url: http://u:secret@h:99999", 1, `key "server_url": "http://u:xxxxx@h:99999": port "99999": want a number from 0 to 65535`},
		{"server_url: u:secret@h:9090", 1, `key "server_url": "u:xxxxx@h:9090": want a URL starting with http:// or https://`},
		{"server_url: https://u:secret@h/packages.db", 1, `key "server_url": "https://u:xxxxx@h/packages.db" is the URL of a file the server serves (packages.db): give the server's base URL (its public_url): https://u:xxxxx@h`},
		{"server_urls: [http://u:secret@a, http://u:secret@a/]", 1, `key "server_urls": entry 2: "http://u:xxxxx@a" is entry 1 too`},
		// The same server but for the password: one servers.json entry,
		// and alike in every message.
		{"server_urls: [http://b, http://u:old@a, \"http://u:new@a/\"]", 1, `key "server_urls": entry 3: "http://u:xxxxx@a" is entry 2 too, but for its password: a server takes one password for a user, and messages and servers.json show the two alike (USER:xxxxx@): keep the one that works`},
	}
	for _, tt := range tests {
		path := writeFile(t, "client.yaml", tt.yaml)
		_, err := LoadClient(path, true)
		want := path + ": " + tt.want
		if tt.line > 0 {
			want = fmt.Sprintf("%s:%d: %s", path, tt.line, tt.want)
		}
		if err == nil || err.Error() != want {
			t.Errorf("%q:\n got  %v\n want %s", tt.yaml, err, want)
		}
	}
}

// TestEveryMistakeAtOnce: a file's mistakes are all named in one error,
// each on a line of its own with the file, the line, the key and what is
// wrong, as add names every mistake of every manifest: a newcomer's
// server.yaml of four mistakes took four runs. They come in the file's
// order (they came in the order of the checks, without lines), a mistake
// of no line (a default's) last. A key whose value is wrong is named once
// (not again by the checks of its default), and a URL derived from a
// wrong address is not named at all.
func TestEveryMistakeAtOnce(t *testing.T) {
	t.Setenv("HOME", "/home/tester")
	server := func(path string) error { _, err := LoadServer(path, false); return err }
	client := func(path string) error { _, err := LoadClient(path, false); return err }
	tests := []struct {
		name, file, yaml string
		load             func(path string) error
		want             []string // each line after "<path>", the first too when it is the only one
	}{
		{"server", "server.yaml", "database-addr: \":9090\"\npeer_adr: \":6881\"\nweb_seed: yes\ncatalog_valid_for: 1y\ntracker_addr: \":http\"\n", server, []string{
			`:1: unknown key "database-addr" (did you mean "database_addr"?)`,
			`:2: unknown key "peer_adr" (did you mean "peer_addr"?)`,
			`:3: key "web_seed": want true or false, got "yes"`,
			`:4: key "catalog_valid_for": "1y" is not a duration: want hours, minutes and seconds ("168h", "90m", "3s") or whole days ("7d")`,
			`:5: key "tracker_addr": port "http" in ":http": want a number from 0 to 65535`,
		}},
		// The checks after decoding (prefix, peer_addr) and a key given
		// twice, said at its second line, fall in the file's order.
		{"client", "client.yaml", "server_ulr: http://x\nseed: always\nprefix: relative\npeer_addr: nope\nseed: none\nupload_rate_limit: fast\n", client, []string{
			`:1: unknown key "server_ulr" (did you mean "server_url"?)`,
			`:3: key "prefix": want an absolute path or one starting with ~/, got "relative"`,
			`:4: key "peer_addr": want host:port (like ":9090"), got "nope"`,
			`:5: key "seed": given twice (first at line 2)`,
			`:6: key "upload_rate_limit": "fast" is not a size: want a number and a unit (B, KiB, MiB, GiB, kB, MB, GB)`,
		}},
		{"checks in the file's order", "client.yaml", "# mirrors\n\nmetrics_addr: nope\nseed: always\nserver_urls:\n  - http://a\n  - localhost:9090\n", client, []string{
			`:3: key "metrics_addr": want host:port (like ":9090"), got "nope"`,
			`:4: key "seed": "always": want "installed", "cached" or "none"`,
			`:5: key "server_urls": entry 2: "localhost:9090" has no scheme: want a URL, like http://localhost:9090`,
		}},
		// Two keys set together: at the later of them.
		{"both set", "server.yaml", "announce_url: http://b/announce\nweb_seed: 1\nannounce_urls: [\"http://a/announce\"]\n", server, []string{
			`:2: key "web_seed": want true or false, got "1"`,
			`:3: keys "announce_url" and "announce_urls" are both set: keep one (announce_urls lists every tracker, the first tried first)`,
		}},
		{"one", "server.yaml", "\n\npeer_addr: \":70000\"\n", server, []string{
			`:3: key "peer_addr": port "70000" in ":70000": want a number from 0 to 65535`,
		}},
		// A syntax error stops the reading: alone, at its line.
		{"syntax", "client.yaml", "seed: always\nserver_url: http://a\n  prefix: /x\n", client, []string{
			`:3: mapping values are not allowed in this context (a line indented more than the key before it, or a value with ": " in it? each key starts its line, as the others do, as "key: value"; quote a value that holds ": ")`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file, tt.yaml)
			err := tt.load(path)
			want := path + tt.want[0]
			if len(tt.want) > 1 {
				want = fmt.Sprintf("%s: %d mistakes:", path, len(tt.want))
				for _, w := range tt.want {
					want += "\n  " + path + w
				}
			}
			if err == nil || err.Error() != want {
				t.Errorf("got\n%v\nwant\n%s", err, want)
			}
		})
	}

	// A mistake of a key the file does not set is its default's: no line,
	// after those of the file.
	t.Setenv("HOME", "")
	path := writeFile(t, "client.yaml", "seed: always\n")
	_, err := LoadClient(path, false)
	want := path + ": 2 mistakes:\n  " + path + `:1: key "seed": "always": want "installed", "cached" or "none"` +
		"\n  " + path + `: key "prefix": cannot expand "~/.local" (the default when the file sets none): $HOME is not set; set prefix to an absolute path, such as /opt/distpac`
	if err == nil || err.Error() != want {
		t.Errorf("a default's mistake: got\n%v\nwant\n%s", err, want)
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.yaml")
	if _, err := LoadClient(missing, false); err == nil || err.Error() != "config "+missing+": no such file (check the path given with --config)" {
		t.Errorf("explicit missing file: got %v, want an error naming %s and --config", err, missing)
	}
	if _, err := LoadServer("", false); err == nil {
		t.Error("explicit empty path: want an error")
	}
	// A directory is unreadable whether or not the file is optional.
	if _, err := LoadServer(dir, true); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory: got %v, want an error naming %s", err, dir)
	}
	if os.Geteuid() != 0 { // root reads anything
		p := writeFile(t, "client.yaml", "prefix: /x\n")
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadClient(p, true); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("unreadable: got %v, want an error naming %s", err, p)
		}
	}
}

func TestAliasesResolve(t *testing.T) {
	s, err := LoadServer(writeFile(t, "server.yaml", "tracker_addr: &a \":7000\"\npeer_addr: *a\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	if s.PeerAddr != ":7000" {
		t.Errorf("peer_addr = %q", s.PeerAddr)
	}
}

func TestValidateCodeBuilt(t *testing.T) {
	s := &Server{}
	s.ApplyDefaults()
	s.UploadRateLimit = -1
	if err := s.Validate(); err == nil || err.Error() != `key "upload_rate_limit": must not be negative` {
		t.Errorf("server: got %v", err)
	}
	c := &Client{Prefix: "/opt"}
	c.ApplyDefaults()
	c.DownloadRateLimit = -5
	if err := c.Validate(); err == nil || err.Error() != `key "download_rate_limit": must not be negative` {
		t.Errorf("client: got %v", err)
	}
}

func TestParseServerKey(t *testing.T) {
	const k = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
	for _, in := range []string{k, "ed25519:" + k, " " + k + "\n"} {
		if key, err := ParseServerKey(in); err != nil || len(key) != 32 {
			t.Errorf("ParseServerKey(%q) = %x, %v", in, key, err)
		}
	}
	for _, in := range []string{"", "ed25519:", "x", k[:len(k)-4], "ed25519:" + k + "AAAA", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="} {
		if _, err := ParseServerKey(in); err == nil {
			t.Errorf("ParseServerKey(%q): want an error", in)
		}
	}
}

// FuzzLoadClient: whatever client.yaml holds (fuzzLoad).
func FuzzLoadClient(f *testing.F) {
	for _, s := range []string{
		"",
		"server_url: http://x:1\nprefix: /opt\n",
		"upload_rate_limit: 10MiB\ndownload_rate_limit: 1.5 GiB/s\n",
		"server_key: ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n",
		"a: &x [1, *x]\n",
		"- 1\n- 2\n",
		"prefix: &p ~/x\npeer_addr: *p\n",
		"---\n---\n",
		"{server_url: [a, {b: c}]}",
		"server_urls: [http://a, &u http://b, *u]\n",
		"server_urls:\n  - http://a\nserver_url: http://b\n",
	} {
		f.Add([]byte(s))
	}
	fuzzLoad(f, "client.yaml", func(p string) (*Client, error) { return LoadClient(p, false) })
}

// fuzzLoad fuzzes the loader of the configuration file name: whatever the
// file holds, load refuses it with one line that names the file, or loads
// a configuration that Validate accepts (usable as is).
func fuzzLoad[C interface{ Validate() error }](f *testing.F, name string, load func(path string) (C, error)) {
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		t.Setenv("HOME", "/home/fuzz")
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := load(p)
		if err != nil {
			// One line, or a count of mistakes and one line each, every
			// line naming the file, and its line when it names one.
			first, rest, several := strings.Cut(err.Error(), "\n")
			at := regexp.MustCompile(`^` + regexp.QuoteMeta(p) + `(:[1-9][0-9]*)?: [^\n]+$`)
			if several && !regexp.MustCompile(`^`+regexp.QuoteMeta(p)+`: [0-9]+ mistakes:$`).MatchString(first) {
				t.Fatalf("error of several lines without the count first: %q", err)
			}
			if !several && !at.MatchString(first) {
				t.Fatalf("error does not name the file: %q", err)
			}
			for l := range strings.Lines(rest) {
				if !at.MatchString(strings.TrimPrefix(strings.TrimSuffix(l, "\n"), "  ")) {
					t.Fatalf("mistake %q does not name the file: %q", l, err)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("loaded config fails Validate: %v", err)
		}
	})
}

// TestInUse: a listen error for an address another program holds names the
// key that sets it; any other error is left as it is.
func TestInUse(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_, inUse := net.Listen("tcp", held.Addr().String())
	if inUse == nil {
		t.Fatal("listening twice on one address succeeded")
	}
	got := InUse("peer_addr", true, inUse)
	if !errors.Is(got, syscall.EADDRINUSE) || !strings.HasSuffix(got.Error(), "(another program has that address: set a free one as peer_addr, or port 0 for any)") {
		t.Errorf("InUse = %v", got)
	}
	// The server's addresses are in what clients are given: no port 0.
	if got := InUse("tracker_addr", false, inUse); !strings.HasSuffix(got.Error(), "(another program has that address: set a free one as tracker_addr)") {
		t.Errorf("InUse of the server's tracker_addr = %v", got)
	}
	other := errors.New("listen tcp: lookup nowhere.invalid: no such host")
	if got := InUse("peer_addr", true, other); got != other {
		t.Errorf("InUse of another error = %v, want it unchanged", got)
	}
}

// An announce URL with no path is accepted, with a warning that names the
// key and the URL meant (a newcomer's announce_url had no /announce).
func TestAnnouncePathWarnings(t *testing.T) {
	tests := []struct {
		name string
		cfg  Server
		want []string
	}{
		{"default", Server{}, nil},
		{"/announce", Server{AnnounceURL: "http://t.example:6969/announce"}, nil},
		{"a tracker's own path", Server{AnnounceURL: "https://t.example/abc123/announce.php"}, nil},
		{"no path", Server{AnnounceURL: "http://127.0.0.1:19169"}, []string{
			`s.yaml: announce_url "http://127.0.0.1:19169" has no path: trackers answer announces at /announce (the embedded one and opentracker do), and at / they answer 404; set http://127.0.0.1:19169/announce, unless your tracker answers at http://127.0.0.1:19169`}},
		{"slash", Server{AnnounceURL: "https://t.example/"}, []string{
			`s.yaml: announce_url "https://t.example/" has no path: trackers answer announces at /announce (the embedded one and opentracker do), and at / they answer 404; set https://t.example/announce, unless your tracker answers at https://t.example/`}},
		{"one of a list", Server{AnnounceURLs: []string{"http://a.example/announce", "http://b.example"}}, []string{
			`s.yaml: announce_urls entry 2 "http://b.example" has no path: trackers answer announces at /announce (the embedded one and opentracker do), and at / they answer 404; set http://b.example/announce, unless your tracker answers at http://b.example`}},
	}
	for _, tt := range tests {
		tt.cfg.ApplyDefaults()
		if err := tt.cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := tt.cfg.AnnouncePathWarnings("s.yaml"); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

// TestKeyLines: the mistakes and warnings about server.yaml said after it
// was read (tracker_whitelist's directory at add time, an announce_url
// without a path at start) name the key's line, as LoadServer's own
// mistakes do: they named the file alone.
func TestKeyLines(t *testing.T) {
	path := writeFile(t, "server.yaml", "# a tracker of our own\nweb_seed: true\n\ntracker_whitelist: /srv/none/whitelist\nannounce_urls:\n  - http://a.example/announce\n  - http://b.example\n")
	s, err := LoadServer(path, false)
	if err != nil {
		t.Fatal(err)
	}
	bad := errors.New("the directory of /srv/none/whitelist does not exist")
	for _, tt := range []struct{ name, got, want string }{
		{"a key's mistake", s.KeyMistake(path, "tracker_whitelist", bad).Error(), path + `:4: key "tracker_whitelist": the directory of /srv/none/whitelist does not exist`},
		{"a key the file does not set", s.KeyMistake(path, "public_url", bad).Error(), path + `: key "public_url": ` + bad.Error()},
		{"a warning", strings.Join(s.AnnouncePathWarnings(path), "\n"), path + `:5: announce_urls entry 2 "http://b.example" has no path: ` +
			`trackers answer announces at /announce (the embedded one and opentracker do), and at / they answer 404; set http://b.example/announce, unless your tracker answers at http://b.example`},
		{"no file", (&Server{}).Where("server.yaml", "announce_url"), "server.yaml"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, tt.got, tt.want)
		}
	}
	var m *Mistakes
	if err := s.KeyMistake(path, "tracker_whitelist", bad); !errors.As(err, &m) || !errors.Is(err, bad) {
		t.Errorf("KeyMistake = %#v: want a *Mistakes wrapping its error", err)
	}
}

// FuzzLoadServer: whatever server.yaml holds (fuzzLoad).
func FuzzLoadServer(f *testing.F) {
	for _, s := range []string{
		"",
		"announce_url: http://t.example:6969/announce\npublic_url: http://p.example:9090\n",
		"announce_urls: [http://a/announce, http://b/announce]\n",
		"database_addr: \":9090\"\ntracker_addr: \":6969\"\npeer_addr: \":6881\"\n",
		"upload_rate_limit: 10MiB\n",
		"tracker_whitelist: /var/lib/distpac/whitelist\n",
		"web_seed: true\npublic_url: &u http://x:1\nannounce_url: *u\n",
		"a: &x [1, *x]\n",
		"- 1\n",
		"---\n---\n",
		"{public_url: [a, {b: c}]}",
	} {
		f.Add([]byte(s))
	}
	fuzzLoad(f, "server.yaml", func(p string) (*Server, error) { return LoadServer(p, false) })
}

package servercli

import (
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/publish"
)

func TestDirVersionWarning(t *testing.T) {
	tests := []struct {
		dir, name, version string
		warn               bool
	}{
		{"pkgs/hello", "hello", "1.0.0", false},            // no version in the name
		{"pkgs/hello-1.0.0", "hello", "1.0.0", false},      // the same
		{"pkgs/hello-1.0.0/", "hello", "1.0.0", false},     // a trailing slash
		{"pkgs/hello-1.0.0", "hello", "1.1.0", true},       // a copied directory
		{"pkgs/hello-1.0.0-rc.1", "hello", "1.0.0", true},  // a pre-release is another version
		{"pkgs/hello-1.0.0+b1", "hello", "1.0.0+b2", true}, // so is other build metadata
		{"pkgs/hello-1.2", "hello", "1.0.0", false},        // "1.2" is not SemVer: part of the name
		{"pkgs/tool-2-1.0.0", "tool-2", "1.0.0", false},    // digits in the name
		{"pkgs/foo-1.0.0", "foo-1.0.0", "2.0.0", false},    // the manifest names it so
	}
	for _, tt := range tests {
		r := publish.Result{Dir: tt.dir, Package: catalog.Package{Name: tt.name, Version: tt.version}}
		if got := dirVersionWarning(r); (got != "") != tt.warn {
			t.Errorf("%s with %s %s: warning %q, want one: %v", tt.dir, tt.name, tt.version, got, tt.warn)
		}
	}
}

func TestLoopbackWarning(t *testing.T) {
	added := []publish.Result{{Added: true}}
	cfgWith := func(yaml map[string]string) *config.Server {
		c := &config.Server{AnnounceURL: yaml["announce_url"], TrackerAddr: yaml["tracker_addr"], DatabaseAddr: yaml["database_addr"], PeerAddr: yaml["peer_addr"]}
		c.ApplyDefaults()
		return c
	}
	tests := []struct {
		name       string
		fileExists bool
		cfg        *config.Server
		results    []publish.Result
		warn       bool
	}{
		{"defaults, no file", false, cfgWith(nil), added, true},
		{"a tracker_addr on every interface still announces to loopback", false, cfgWith(map[string]string{"tracker_addr": "0.0.0.0:7000"}), added, true},
		{"localhost", false, cfgWith(map[string]string{"announce_url": "http://localhost:6969/announce"}), added, true},
		// A server.yaml that sets where to listen and not what to announce:
		// clients on other hosts sync, then find no tracker or seeder.
		{"a file with the default addresses, every address", true, cfgWith(nil), added, true},
		{"a file with the host's address and no announce_url", true, cfgWith(map[string]string{"tracker_addr": "127.0.0.1:6969", "database_addr": "198.18.0.1:9090", "peer_addr": "127.0.0.1:6881"}), added, true},
		{"a file with the seeder on every address", true, cfgWith(map[string]string{"tracker_addr": "127.0.0.1:6969", "database_addr": "127.0.0.1:9090", "peer_addr": ":6881"}), added, true},
		{"a file on loopback alone: a try on one machine", true, cfgWith(map[string]string{"tracker_addr": "127.0.0.1:6969", "database_addr": "127.0.0.1:9090", "peer_addr": "127.0.0.1:6881"}), added, false},
		{"a file on localhost alone", true, cfgWith(map[string]string{"tracker_addr": "localhost:6969", "database_addr": "[::1]:9090", "peer_addr": "127.0.0.1:6881"}), added, false},
		{"a file with the tracker on the host's address", true, cfgWith(map[string]string{"tracker_addr": "198.18.0.1:6969"}), added, false},
		{"a file announcing to loopback on purpose", true, cfgWith(map[string]string{"announce_url": "http://127.0.0.1:9/announce"}), added, false},
		{"a file announcing to another host", true, cfgWith(map[string]string{"announce_url": "http://tracker.example:6969/announce"}), added, false},
		{"a tracker other hosts reach", false, cfgWith(map[string]string{"tracker_addr": "192.0.2.7:6969"}), added, false},
		{"nothing added", false, cfgWith(nil), []publish.Result{{Added: false}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loopbackWarning("/home/p/.local/share/distpac/server.yaml", tt.fileExists, tt.cfg, tt.results)
			if (got != "") != tt.warn {
				t.Fatalf("warning %q, want one: %v", got, tt.warn)
			}
			if tt.warn && !strings.Contains(got, "/home/p/.local/share/distpac/server.yaml") || tt.warn && !strings.Contains(got, tt.cfg.Trackers()[0]) {
				t.Errorf("warning %q names neither the file nor the tracker", got)
			}
		})
	}
}

// TestPortZeroWarning: an address of port 0 puts port 0 in the default
// announce_url and public_url, which no client reaches: add says so.
func TestPortZeroWarning(t *testing.T) {
	added := []publish.Result{{Added: true}}
	tests := []struct {
		name string
		cfg  config.Server
		want []string // the URLs the warning names; none: no warning
	}{
		{"defaults", config.Server{}, nil},
		{"tracker_addr port 0", config.Server{TrackerAddr: "127.0.0.1:0"}, []string{"http://127.0.0.1:0/announce"}},
		{"database_addr port 0", config.Server{DatabaseAddr: "127.0.0.1:0"}, []string{"http://127.0.0.1:0"}},
		{"port 0 but announce_url and public_url set", config.Server{TrackerAddr: "127.0.0.1:0", DatabaseAddr: "127.0.0.1:0",
			AnnounceURL: "http://t.example:6969/announce", PublicURL: "http://p.example"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.ApplyDefaults()
			got := portZeroWarning(&tt.cfg, added)
			if (got != "") != (len(tt.want) > 0) {
				t.Fatalf("warning %q, want one naming %v", got, tt.want)
			}
			for _, u := range tt.want {
				if !strings.Contains(got, u) {
					t.Errorf("warning %q does not name %s", got, u)
				}
			}
			if got := portZeroWarning(&tt.cfg, []publish.Result{{Added: false}}); got != "" {
				t.Errorf("nothing added: warning %q", got)
			}
		})
	}
}

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
)

// TestInstallReportNamesTheMirror: a mirror's seeder is a server's source
// in the install's transfer report, as the publisher's is. The primary
// runs no seeder, so the only BitTorrent source of the package is the
// mirror's, found through the primary's tracker. A client whose
// server_urls list the mirror says the bytes came "from a mirror's
// seeder", in its history too (from_mirrors_bytes); before, the report
// said "from 1 other peer": a mirror's peer port is in no signed catalog.
// The mirror names itself a dist-server seeder in its BEP 10 handshake,
// which any peer could: to a client whose server_url is the primary
// alone, the same seeder (on 127.0.0.2, a host that is not a server of
// that client) stays "1 other peer".
func TestInstallReportNamesTheMirror(t *testing.T) {
	if testing.Short() {
		t.Skip("a primary, a mirror and two clients")
	}
	r := newRig(t, "")
	primary := "http://" + r.h.dbAddr
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ports[0])
	mirrorDB := net.JoinHostPort("127.0.0.2", port)
	mirror := "http://" + mirrorDB
	size := int64(300 << 10)
	r.server("add", r.mkpkg("alpha", "1.0.0", size))
	r.server("start", "--no-seeder")
	key := strings.TrimSpace(r.server("key"))
	r.startMirror(fmt.Sprintf("database_addr: %q\npeer_addr: \"127.0.0.2:0\"\n", mirrorDB), mirror, "alpha-1.0.0.tar.zst", "--interval", "300ms", primary)

	r.writeYAML("client1.yaml", fmt.Sprintf("server_urls:\n  - %s\n  - %s\nserver_key: %q\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\n",
		primary, mirror, key, r.path("prefix1")))
	r.client1("sync")
	out := r.client1("install", "alpha")
	t.Logf("client of the mirror:\n%s", out)
	if !regexp.MustCompile(`(?m)^downloaded [0-9.]+ KiB in [0-9.]+m?s \([^)]*\): [0-9.]+ KiB from a mirror's seeder; first byte after `).MatchString(out) ||
		strings.Contains(out, "other peer") || !strings.Contains(out, "installed alpha 1.0.0") {
		t.Fatalf("install from the mirror's seeder, a client of the mirror: want its bytes from a mirror's seeder:\n%s", out)
	}
	var history []struct {
		Transfer struct {
			Archives []struct {
				FromMirrors int64 `json:"from_mirrors_bytes"`
				Mirrors     int   `json:"mirrors"`
				FromPeers   int64 `json:"from_peers_bytes"`
			} `json:"archives"`
		} `json:"transfer"`
	}
	h := r.client1("history", "--json")
	if err := json.Unmarshal([]byte(h), &history); err != nil {
		t.Fatalf("history --json: %v\n%s", err, h)
	}
	last := history[len(history)-1].Transfer.Archives
	if len(last) != 1 || last[0].FromMirrors < size || last[0].Mirrors != 1 || last[0].FromPeers != 0 {
		t.Fatalf("history's transfer report: %+v; want the archive from 1 mirror\n%s", last, h)
	}

	// client2: server_url is the primary alone.
	r.run("dist-client", "client2", "client2.yaml", "sync")
	out = r.run("dist-client", "client2", "client2.yaml", "install", "alpha")
	t.Logf("client of the primary alone:\n%s", out)
	if !regexp.MustCompile(`: [0-9.]+ KiB from 1 other peer; first byte after `).MatchString(out) || strings.Contains(out, "mirror") {
		t.Fatalf("install from a dist-server seeder at a host not in server_urls: want it counted as another peer:\n%s", out)
	}
}

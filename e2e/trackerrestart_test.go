package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/trackerclient"
)

// TestTrackerKeepsPeersAcrossRestart: three hosts (127.0.1.2-4) announce a
// package over HTTP, the server is stopped and started again, and a
// newcomer's announce lists them beside the seeder. Before, a restarted
// tracker knew only its own seeder until each client announced again (up
// to 33 s), so newcomers loaded the publisher alone. A start after kill -9
// knows none of them: the file of the clean stop was read once. A damaged
// file is one warning, and the server starts with an empty tracker.
func TestTrackerKeepsPeersAcrossRestart(t *testing.T) {
	r := newRig(t, "")
	r.server("add", r.mkpkg("target", "1.0.0", 64<<10))
	r.server("start")
	r.client1("sync")
	ih := r.infoHash("target")
	announceURL := "http://" + r.h.trackerAdr + "/announce"
	seeder := netip.MustParseAddrPort(r.h.peerAddr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	announceFrom := func(host string, port uint16, left int64) []netip.AddrPort {
		t.Helper()
		c := &trackerclient.Client{HTTP: trackerclient.NewHTTPClient(netip.MustParseAddr(host))}
		req := trackerclient.Request{InfoHash: ih, Port: port, Left: left, Event: trackerclient.Started, NumWant: 50}
		copy(req.PeerID[:], fmt.Sprintf("-DP0001-%012d", port))
		res, err := c.Announce(ctx, announceURL, req)
		if err != nil {
			t.Fatalf("announce from %s:%d: %v", host, port, err)
		}
		return res.Peers
	}
	var hosts []netip.AddrPort
	for i := 2; i <= 4; i++ {
		host := fmt.Sprintf("127.0.1.%d", i)
		announceFrom(host, 7000, 0)
		hosts = append(hosts, netip.MustParseAddrPort(host+":7000"))
	}

	r.server("stop")
	peersFile := r.path("server", "distpac", "server", "tracker-peers.jsonl")
	if _, err := os.Stat(peersFile); err != nil {
		t.Errorf("dist-server stop left no peers file: %v", err)
	}
	r.server("start")
	got := announceFrom("127.0.1.9", 7000, 1)
	want := append([]netip.AddrPort{seeder}, hosts...)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("right after the restart a newcomer is told %v; want %v among them", got, want)
			break
		}
	}
	if _, err := os.Stat(peersFile); err == nil {
		t.Errorf("the peers file is still there after the start read it")
	}
	log := readFile(r.path("server", "distpac", "server", "server.log"))
	if !strings.Contains(log, "tracker peers restored") || !strings.Contains(log, "peers=3") {
		t.Errorf("server.log says nothing of 3 peers restored:\n%s", log)
	}

	// kill -9: no file written, and the one of the clean stop is gone.
	pid := r.serverPID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !poll(10*time.Second, func() bool { return syscall.Kill(pid, 0) != nil }) {
		t.Fatalf("pid %d still alive after kill -9", pid)
	}
	r.server("start")
	got = announceFrom("127.0.1.10", 7000, 1)
	if !slices.Equal(got, []netip.AddrPort{seeder}) {
		t.Errorf("after kill -9 and a start a newcomer is told %v; want the seeder alone", got)
	}

	// A damaged file: one warning naming it, and a server that starts.
	r.server("stop")
	b, err := os.ReadFile(peersFile)
	if err != nil {
		t.Fatalf("dist-server stop left no peers file: %v", err)
	}
	if err := os.WriteFile(peersFile, b[:len(b)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	r.server("start")
	if got := announceFrom("127.0.1.11", 7000, 1); !slices.Equal(got, []netip.AddrPort{seeder}) {
		t.Errorf("after a start from a damaged file a newcomer is told %v; want the seeder alone", got)
	}
	log = readFile(r.path("server", "distpac", "server", "server.log"))
	if n := strings.Count(log, "tracker starts with no peers"); n != 1 || !strings.Contains(log, peersFile+": line 2: unexpected EOF") {
		t.Errorf("server.log has %d warnings of the damaged file, want one naming %s and what is wrong:\n%s", n, peersFile, log)
	}
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/nettest"
)

// dripServer serves a publisher's catalog as its server does (a proxy to
// it), and its archives (from the server's archives folder) as a slow web
// seed (nettest.SlowSeed): an archive named drip-* a byte a second (a web
// seed that answers and then drips), any other 4 KiB every 250 ms
// (16 KiB/s: a slow link).
func dripServer(t *testing.T, r *rig) (addr string) {
	t.Helper()
	ln := loopback(t)
	nettest.SlowSeed(t, ln, "http://"+r.h.dbAddr, r.path("server", "distpac", "server", "archives"), func(name string) (int64, time.Duration) {
		if strings.HasPrefix(name, "drip-") {
			return 1, time.Second
		}
		return 4 << 10, 250 * time.Millisecond
	})
	return ln.Addr().String()
}

// stallRig is a publisher whose torrents name a web seed at dripServer,
// which is also the client's server_url (so that the servers' /packages/
// are that seed too), its seeder off: no peer has the archives. drip's
// archive comes a byte a second, slow's at 16 KiB/s.
func stallRig(t *testing.T) (r *rig, addr string) {
	r = newRig(t, "")
	addr = dripServer(t, r)
	r.appendConfig("server.yaml", fmt.Sprintf("public_url: \"http://%s\"\nweb_seed: true\n", addr))
	r.server("add", r.mkpkg("drip", "1.0.0", 64<<10), r.mkpkg("slow", "1.0.0", 256<<10))
	r.server("start", "--no-seeder")
	os.MkdirAll(r.path("dripper"), 0o755)
	r.writeYAML("dripper.yaml", fmt.Sprintf("server_url: \"http://%s\"\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\n", addr, r.path("prefix3")))
	r.run("dist-client", "dripper", "dripper.yaml", "sync")
	return r, addr
}

// TestStallNamesDrippingWebSeed: an archive whose only source is a web
// seed that answers and then drips a byte a second (an attacker's run)
// fails at the stall timeout with an error that names the seed's URL,
// what it answered and the bytes it sent, and the peers (none), the same
// without a daemon and through one, after the archive, as other download
// errors do. It said "no data received for 2m0s from any peer or web
// seed": no server, and "no data" though a byte a second came; then it
// named no package ("dist-client: only 4 B received …").
func TestStallNamesDrippingWebSeed(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("a server, a dripping web seed, a client and its daemon; two 6 s stalls")
	}
	r, addr := stallRig(t)
	seedURL := regexp.QuoteMeta("http://" + addr + "/packages/drip-1.0.0.tar.zst")
	want := regexp.MustCompile(`(?m)^dist-client: download drip-1\.0\.0\.tar\.zst: only [0-9]+ B received in 6s from all peers and web seeds, under 1\.0 KiB/s: ` +
		`web seed ` + seedURL + ` answered HTTP 206 Partial Content and sent [0-9]+ B; no peer connected$`)
	install := func(how string) {
		t.Helper()
		start := time.Now()
		out, err := r.try("dist-client", "dripper", "dripper.yaml", "install", "--stall-timeout", "6s", "drip")
		took := time.Since(start)
		t.Logf("%s, after %v:\n%s", how, took.Round(time.Millisecond), out)
		if err == nil {
			t.Fatalf("%s: the install succeeded from a web seed that drips a byte a second", how)
		}
		if !want.MatchString(out) {
			t.Errorf("%s: the error does not say what the web seed did; want a line matching\n%s", how, want)
		}
		if took > 30*time.Second {
			t.Errorf("%s: took %v with a 6s stall timeout", how, took.Round(time.Second))
		}
	}
	install("without a daemon")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := r.start(ctx, "dist-client", "dripper", "dripper.yaml", "daemon")
	if !poll(20*time.Second, func() bool {
		_, err := os.Stat(r.path("dripper", "distpac", "client", "daemon.sock"))
		return err == nil
	}) {
		t.Fatalf("the daemon never listened:\n%s", d.out)
	}
	install("through the daemon")
}

// TestStallCountsWebSeedBytes: a web seed that sends 16 KiB/s, well
// above the stall floor, is progress though a 64 KiB piece takes it 4 s:
// an install with a 3 s stall timeout completes. The watchdog counted a
// web seed's bytes only once a piece was whole, and failed it after 3 s
// with "no data received for 3s from any peer or web seed".
func TestStallCountsWebSeedBytes(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("a server, a slow web seed and a client; 16 s of download")
	}
	r, _ := stallRig(t)
	out, err := r.try("dist-client", "dripper", "dripper.yaml", "install", "--stall-timeout", "3s", "slow")
	if err != nil || !strings.Contains(out, "installed slow 1.0.0") {
		t.Errorf("an install from a web seed at 16 KiB/s with a 3 s stall timeout: %v\n%s", err, out)
	}
}

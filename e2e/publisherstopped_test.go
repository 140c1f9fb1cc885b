package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// stopMidTransfer publishes an 8 MiB package from a server capped at
// 1 MiB/s, starts two clients' daemons and their installs of it at once,
// and stops the server once it has sent a third: it returns the daemons
// and the installs, running, and when the server stopped. Skipped under
// -short: it takes about 5 s before the stop.
func stopMidTransfer(t *testing.T) (r *rig, daemons, installs []*started, stopped time.Time) {
	t.Helper()
	return stopMidTransferBy(t, func(r *rig) { r.server("stop") })
}

// stopMidTransferBy is stopMidTransfer with the server stopped by stop.
func stopMidTransferBy(t *testing.T, stop func(r *rig)) (r *rig, daemons, installs []*started, stopped time.Time) {
	t.Helper()
	if testing.Short() {
		t.Skip("a capped server, two clients with daemons and an 8 MiB package")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	r = newRig(t, "upload_rate_limit: \"1MiB\"\n")
	r.server("add", r.mkpkg("shared", "1.0.0", stoppedSize))
	r.server("start")
	r.client1("sync")
	r.client2("sync")
	for _, c := range []string{"client1", "client2"} {
		d := r.start(ctx, "dist-client", c, c+".yaml", "daemon")
		if !poll(20*time.Second, func() bool { _, err := os.Stat(filepath.Join(r.clientDir(c), "daemon.sock")); return err == nil }) {
			t.Fatalf("%s's daemon never listened:\n%s", c, d.out)
		}
		daemons = append(daemons, d)
	}
	for _, c := range []string{"client1", "client2"} {
		installs = append(installs, r.start(ctx, "dist-client", c, c+".yaml", "install", "shared"))
	}
	if !poll(30*time.Second, func() bool { return r.uploaded() >= stoppedSize/3 }) {
		t.Fatalf("the server never sent a third of the package (%d bytes)", r.uploaded())
	}
	stop(r)
	return r, daemons, installs, time.Now()
}

const stoppedSize = 8 << 20

// failedInstalls waits for each of installs, which must fail, logs what
// it said, and checks that with check (i: its index; took: since since,
// when what happened).
func failedInstalls(t *testing.T, installs []*started, since time.Time, what string, check func(i int, out string, took time.Duration)) {
	t.Helper()
	for i, p := range installs {
		err := p.wait()
		took := time.Since(since)
		out := said(p)
		t.Logf("client%d's install, %v after %s:\n%s", i+1, took.Round(time.Millisecond), what, out)
		if err == nil {
			t.Errorf("client%d installed a package of which a third was sent", i+1)
			continue
		}
		check(i, out, took)
	}
}

// noRestart checks that no daemon restarted its download.
func noRestart(t *testing.T, daemons []*started) {
	t.Helper()
	for i, d := range daemons {
		if log := d.out.String(); strings.Contains(log, "restarting it") {
			t.Errorf("client%d's daemon restarted its download with no connection stuck:\n%s", i+1, log)
		}
	}
}

// TestPublisherStoppedMidTransfer: a publisher capped at 1 MiB/s, two
// clients with daemons installing its 8 MiB package at once, and the
// publisher stopped when a third of it was sent. The clients trade what
// they have, and then have nothing the other lacks: neither restarts its
// download (no connection is stuck), and each install fails within
// seconds saying the truth: its peer is connected and has none of the
// pieces still missing. Before, the first to stall logged "download
// stalled with peers connected; restarting it", which dropped the other
// client, and both failed 18 s after the stop, one saying that the
// tracker "listed 2 peers, none answered".
func TestPublisherStoppedMidTransfer(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	_, daemons, installs, stopped := stopMidTransfer(t)

	want := regexp.MustCompile(`dist-client: download shared-1\.0\.0\.tar\.zst \(through the daemon\): no source for shared-1\.0\.0\.tar\.zst: nothing received for [0-9]+s: ` +
		`1 peer connected, none has the pieces still missing \(([0-9]+) of ([0-9]+) pieces\);`)
	failedInstalls(t, installs, stopped, "the stop", func(i int, out string, took time.Duration) {
		m := want.FindStringSubmatch(out)
		if m == nil || m[1] == "0" || m[1] == m[2] {
			t.Errorf("client%d's error does not say its peer is connected without the pieces missing; want a line matching\n%s", i+1, want)
		}
		if strings.Contains(out, "none answered") {
			t.Errorf("client%d's error says peers did not answer", i+1)
		}
		if !strings.Contains(out, "\nhint: is dist-server running?") {
			t.Errorf("client%d's error has not the hint of a server down from the start", i+1)
		}
		if took > 25*time.Second {
			t.Errorf("client%d's install failed %v after the publisher stopped; want within the 8 s give-up and a few seconds", i+1, took.Round(time.Second))
		}
	})
	noRestart(t, daemons)
}

// publisherAway is how long TestPublisherBackMidTransfer's publisher is
// stopped: well within the clients' 8 s give-up.
const publisherAway = 3 * time.Second

// TestPublisherBackMidTransfer: as TestPublisherStoppedMidTransfer, but
// the publisher starts again 3 s after: the clients, still connected to
// each other and waiting for a source, find its seeder again and both
// installs complete, without a restart and without giving up. (The code
// before passes it too: its restart came only after 10 s.)
func TestPublisherBackMidTransfer(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	r, daemons, installs, stopped := stopMidTransfer(t)
	time.Sleep(time.Until(stopped.Add(publisherAway)))
	r.server("start")
	t.Logf("the server started again %v after its stop", time.Since(stopped).Round(time.Millisecond))
	for i, p := range installs {
		err := p.wait()
		t.Logf("client%d's install, %v after the stop:\n%s", i+1, time.Since(stopped).Round(time.Millisecond), said(p))
		if err != nil || !strings.Contains(said(p), "installed shared 1.0.0") {
			t.Errorf("client%d's install: %v", i+1, err)
		}
	}
	noRestart(t, daemons)
}

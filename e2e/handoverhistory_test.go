package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// TestInterruptAfterDaemonLeft: the daemon an install downloads through
// is killed a third of the way in, the install goes on with an engine of
// its own, and is interrupted (Ctrl-C) before the end. What the daemon
// had verified was this install's work, as the transfer line of a
// finished install says ("verified by the daemon earlier in this
// install", handed_over_bytes); history --json put it down as already
// had from an earlier, interrupted download.
func TestInterruptAfterDaemonLeft(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("32 MiB download at a capped rate through a daemon killed mid-way, then interrupted")
	}
	const size = 32 << 20
	r := newRig(t, "")
	_, part := r.publishCapped(size, "4MiB")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, _ := r.startDaemon(ctx)
	p := r.installAThird(ctx, size, part)
	d.kill9(t)
	if !poll(30*time.Second, func() bool { return strings.Contains(p.out.String(), "this install downloads the rest itself") }) {
		t.Fatalf("the install did not go on by itself:\n%s", p.out)
	}
	at := r.uploaded()
	if !poll(30*time.Second, func() bool { return r.uploaded() >= at+2<<20 }) || !p.running() {
		t.Fatalf("the install's engine did not download 2 MiB, or finished:\n%s", p.out)
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(); err == nil {
		t.Fatalf("the interrupted install succeeded:\n%s", p.out)
	}
	t.Logf("install, its daemon killed, then interrupted:\n%s", p.out)

	var h []struct {
		Result     string `json:"result"`
		Downloaded int64  `json:"downloaded_bytes"`
		Transfer   struct {
			Archives []struct {
				Incomplete bool  `json:"incomplete"`
				AlreadyHad int64 `json:"already_had_bytes"`
				HandedOver int64 `json:"handed_over_bytes"`
				FromSeeder int64 `json:"from_seeder_bytes"`
				FromPeers  int64 `json:"from_peers_bytes"`
				Kept       int64 `json:"kept_bytes"`
			} `json:"archives"`
		} `json:"transfer"`
	}
	js := r.client1("history", "--json")
	if err := json.Unmarshal([]byte(js), &h); err != nil || len(h) != 1 {
		t.Fatalf("history --json: %v, want one entry:\n%s", err, js)
	}
	t.Logf("history:\n%s", r.client1("history"))
	e := h[0]
	if e.Result != "interrupted" || len(e.Transfer.Archives) != 1 || !e.Transfer.Archives[0].Incomplete {
		t.Fatalf("history: %+v, want the install interrupted, its archive incomplete", e)
	}
	a := e.Transfer.Archives[0]
	if a.AlreadyHad < size/4 || a.HandedOver != a.AlreadyHad {
		t.Errorf("history's transfer: %d bytes already had, %d of them handed over by the daemon; want all of the daemon's third handed over (no earlier download left any)", a.AlreadyHad, a.HandedOver)
	}
	// The text history's DOWNLOADED, and downloaded_bytes, count the
	// daemon's bytes as this install's too, with what its own engine got.
	if got := a.HandedOver + a.FromSeeder + a.FromPeers; e.Downloaded < got {
		t.Errorf("history: %d bytes downloaded, less than the %d the daemon and the install's engine got", e.Downloaded, got)
	}
}

package server

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"
)

// A publisher checking its archives at start answers status, saying how
// far the check came, as a mirror fetching its archives does: server.json
// is written with verifying and the control endpoint, Ready waits for the
// check, and server.json drops verifying once it is done. Before, nothing
// answered until every archive was checked, and status said only
// "starting and not ready yet" (minutes for many large archives).
func TestStatusWhileVerifying(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, primary, _ := newPrimary(ctx, t, writePackage(t, "alpha", 4<<10), writePackage(t, "beta", 4<<10), writePackage(t, "gamma", 4<<10))
	hold, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	checkedHook = func(done, of int) {
		if done == 1 {
			once.Do(func() { close(hold); <-release })
		}
	}
	defer func() { checkedHook = nil }()
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Paths: primary, Config: cfg, Logger: testLogger(t, "primary"), PollInterval: 100 * time.Millisecond, Ready: func(i Info) { ready <- i }})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}()
	defer once.Do(func() {}) // a failure before the hold
	select {
	case <-hold:
	case err := <-done:
		t.Fatalf("server: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the server never checked an archive")
	}
	var info Info
	b, err := os.ReadFile(primary.PIDFile())
	if err != nil || json.Unmarshal(b, &info) != nil || !info.Verifying || info.Control == "" {
		close(release)
		t.Fatalf("server.json while the archives are checked: %s (%v); want it there, verifying, with the control endpoint", b, err)
	}
	_, b = fetch(t, info.Control+"/status")
	var st Status
	if err := json.Unmarshal(b, &st); err != nil || !st.Verifying || st.Verified != 1 || st.ToVerify != 3 {
		t.Errorf("status while 1 archive of 3 is checked: %s (%v); want verifying, 1 of 3", b, err)
	}
	select {
	case <-ready:
		t.Error("the server reported ready before its archives were checked")
	default:
	}
	close(release)
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("server: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the server never became ready")
	}
	info = Info{}
	if b, err := os.ReadFile(primary.PIDFile()); err != nil || json.Unmarshal(b, &info) != nil || info.Verifying {
		t.Errorf("server.json once ready: %s, %v; want it not verifying", b, err)
	}
	_, b = fetch(t, info.Control+"/status")
	st = Status{}
	if err := json.Unmarshal(b, &st); err != nil || st.Verifying || st.Packages != 3 || st.Seeding != 3 {
		t.Errorf("status once ready: %s (%v); want 3 packages seeded, not verifying", b, err)
	}
}

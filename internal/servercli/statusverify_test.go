package servercli

import (
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/server"
)

// status of a publisher still checking its archives at start says what it
// does and how far it came, as a filling mirror's does, and no packages
// line (nothing is served yet): it said only "starting and not ready yet".
func TestStatusOfAVerifyingPublisher(t *testing.T) {
	info := server.Info{Database: "http://127.0.0.1:9090", Tracker: "http://127.0.0.1:6969/announce", Peer: "127.0.0.1:6881", Verifying: true}
	out := statusOf(t, server.Status{Info: info, Seeding: 3, Verified: 3, ToVerify: 10})
	for _, want := range []string{
		"dist-server running (pid ",
		"  starting: verifying archives, 3 of 10 checked (the catalog is served once each is; dist-server start returns then)\n",
		"  seeder:   127.0.0.1:6881\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "packages:") {
		t.Errorf("status of a server that serves no catalog yet has a packages line:\n%s", out)
	}
}

// Before the check has counted the archives, status says what it does
// rather than "verifying archives, 0 of 0 checked".
func TestStatusBeforeTheCheckCounts(t *testing.T) {
	info := server.Info{Database: "http://127.0.0.1:9090", Verifying: true}
	out := statusOf(t, server.Status{Info: info})
	if want := "  starting: reading the catalog to check its archives"; !strings.Contains(out, want) || strings.Contains(out, "0 of 0") {
		t.Errorf("status lacks %q or says 0 of 0:\n%s", want, out)
	}
}

// status of a publisher whose catalog cannot be re-signed says since
// when, why, and when the catalog served expires: it was only logged.
func TestStatusOfAFailingResign(t *testing.T) {
	since := time.Date(2026, 12, 8, 3, 0, 0, 0, time.Local)
	until := since.Add(30 * time.Minute)
	st := server.Status{Info: server.Info{Database: "http://127.0.0.1:9090"}, Serial: 7, ResignFailingSince: since, ResignError: "the serial cannot grow", ResignValidUntil: until}
	want := "  re-sign:  failing since 2026-12-08 03:00:00: the serial cannot grow; the catalog served is valid until 2026-12-08 03:30:00, and clients refuse it after\n"
	if out := statusOf(t, st); !strings.Contains(out, want) {
		t.Errorf("status lacks %q:\n%s", want, out)
	}
}

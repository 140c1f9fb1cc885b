package servercli

import (
	"testing"
	"time"

	"github.com/distpac/distpac/internal/swarm"
)

// What status says of the seeder's announces to each tracker: a tracker
// refusing them (opentracker unable to read its whitelist) with its
// reason, since when, how often and for how many packages, and, when the
// reason is opentracker's for a torrent its list lacks, what to check.
func TestAnnounceHealth(t *testing.T) {
	since := time.Date(2026, 12, 6, 10, 2, 0, 0, time.Local)
	const u = "http://t.example:6969/announce"
	tests := []struct {
		name      string
		h         swarm.TrackerHealth
		whitelist string
		want      string
	}{
		{"answering", swarm.TrackerHealth{URL: u, Torrents: 3}, "/w",
			u + " takes the seeder's announces (3 packages)"},
		{"refused, whitelist set", swarm.TrackerHealth{URL: u, Torrents: 2, Failing: 2, Failures: 14, Since: since, Refused: true, Reason: "Requested download is not authorized for use with this tracker."}, "/var/lib/distpac/whitelist",
			u + " refuses the seeder's announces: Requested download is not authorized for use with this tracker (since 2026-12-06 10:02:00, 14 failures, 2 of 2 packages); check that the tracker's user can read tracker_whitelist /var/lib/distpac/whitelist, and that the tracker read it again since it last changed (SIGHUP) (README: opentracker)"},
		// The package added last refused, the others taken: opentracker
		// reads the list, and was not sent SIGHUP after the add.
		{"some refused, whitelist set", swarm.TrackerHealth{URL: u, Torrents: 3, Failing: 1, Failures: 1, Since: since, Refused: true, Reason: "Requested download is not authorized for use with this tracker."}, "/var/lib/distpac/whitelist",
			u + " refuses the seeder's announces: Requested download is not authorized for use with this tracker (since 2026-12-06 10:02:00, 1 failure, 1 of 3 packages); it takes the others' announces, so it reads tracker_whitelist /var/lib/distpac/whitelist but has not read it again since the last add or remove: send it SIGHUP (README: opentracker)"},
		{"refused, no whitelist", swarm.TrackerHealth{URL: u, Torrents: 2, Failing: 1, Failures: 1, Since: since, Refused: true, Reason: "Requested download is not authorized for use with this tracker."}, "",
			u + " refuses the seeder's announces: Requested download is not authorized for use with this tracker (since 2026-12-06 10:02:00, 1 failure, 1 of 2 packages)"},
		{"refused for another reason", swarm.TrackerHealth{URL: u, Torrents: 1, Failing: 1, Failures: 2, Since: since, Refused: true, Reason: "torrent is not served by this tracker"}, "/w",
			u + " refuses the seeder's announces: torrent is not served by this tracker (since 2026-12-06 10:02:00, 2 failures, 1 of 1 package)"},
		{"down", swarm.TrackerHealth{URL: u, Torrents: 1, Failing: 1, Failures: 3, Since: since, Reason: "dial tcp 127.0.0.1:6969: connect: connection refused"}, "/w",
			u + " does not answer the seeder's announces: dial tcp 127.0.0.1:6969: connect: connection refused (since 2026-12-06 10:02:00, 3 failures, 1 of 1 package)"},
	}
	for _, tt := range tests {
		if got := announceHealth(tt.h, tt.whitelist); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

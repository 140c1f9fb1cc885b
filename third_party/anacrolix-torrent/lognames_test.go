package torrent

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/anacrolix/log"
)

// namesSeen records the names and text of every record logged.
type namesSeen struct {
	mu      sync.Mutex
	records []log.Record
}

func (h *namesSeen) Handle(r log.Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
}

// TestTorrentLogNamesHoldNoInfohash (patch 61): a torrent's records
// carry its infohash in their text, not among their names, which
// anacrolix/log keeps for ever (one series per torrent ever logged under).
// Upstream named every torrent's logger by its infohash.
func TestTorrentLogNamesHoldNoInfohash(t *testing.T) {
	var seen namesSeen
	cfg := TestingConfig(t)
	l := log.Default.WithNames("test")
	l.Handlers = []log.Handler{&seen}
	cfg.Logger = l
	cl, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var ih [20]byte
	ih[0] = 0xab
	tor, _ := cl.AddTorrentInfoHash(ih)
	hex := tor.InfoHash().HexString()
	tor.logger.Levelf(log.Error, "a record")
	seen.mu.Lock()
	defer seen.mu.Unlock()
	found := false
	for _, r := range seen.records {
		if slices.Contains(r.Names, hex) {
			t.Errorf("record %q is named by the infohash: names %q", r.Text(), r.Names)
		}
		if strings.Contains(r.Text(), "a record") {
			found = true
			if !strings.Contains(r.Text(), hex) {
				t.Errorf("record %q does not say the infohash", r.Text())
			}
		}
	}
	if !found {
		t.Fatalf("the torrent's record was not logged (%d records)", len(seen.records))
	}
}

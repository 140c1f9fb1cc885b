package install

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/state"
)

// A dry run's estimate is at the rate of the client's last downloads; a
// damaged history entry (2^62 bytes in a nanosecond, an attacker's run)
// made it negative, and is left out.
func TestPastRate(t *testing.T) {
	type entry struct {
		bytes int64
		took  time.Duration
	}
	for _, tt := range []struct {
		name    string
		entries []entry
		rate    int64
		from    int
	}{
		{"none", nil, 0, 0},
		{"one", []entry{{4 << 20, 2 * time.Second}}, 2 << 20, 1},
		{"the bytes over the time of all", []entry{{4 << 20, time.Second}, {2 << 20, 2 * time.Second}}, 2 << 20, 2},
		{"a damaged entry is left out", []entry{{4 << 20, 2 * time.Second}, {1 << 62, time.Nanosecond}}, 2 << 20, 1},
		{"only damaged entries", []entry{{1 << 62, time.Nanosecond}, {1 << 62, 0}}, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := &Client{}
			db, err := state.Open(ctx, filepath.Join(t.TempDir(), "installed.db"), "/opt/p")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, e := range tt.entries {
				id, err := db.StartHistory(ctx, "install x")
				if err != nil {
					t.Fatal(err)
				}
				tr, _ := json.Marshal(Report{Elapsed: e.took})
				if err := db.FinishHistory(ctx, state.HistoryEnd{ID: id, Result: state.ResultOK, Downloaded: e.bytes, Transfer: tr}); err != nil {
					t.Fatal(err)
				}
			}
			if rate, from := c.pastRate(ctx, db); rate != tt.rate || from != tt.from {
				t.Errorf("pastRate = %d from %d; want %d from %d", rate, from, tt.rate, tt.from)
			}
		})
	}
}

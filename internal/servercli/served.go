package servercli

import (
	"context"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/paths"
)

// waitServed returns once a running server serves (and seeds) the working
// catalog's current serial, so that `add && sync && install` works at
// once. A server that is not running is nothing to wait for; one that does
// not catch up within the bound gets a warning. Interrupted, it says that
// the change (done: "the packages above are published") stands, since the
// catalog is committed, and returns ctx's error: the wait is all that was
// cut short.
func waitServed(ctx context.Context, e *env, sp paths.Server, done string) error {
	if _, running := runningPID(sp); !running {
		return nil
	}
	info, err := readInfo(sp)
	if err != nil || info.Control == "" {
		return nil
	}
	if info.Starting() {
		// A publisher checking its archives at start, a mirror filling:
		// it loads the catalog as it is once that ends, which can take
		// minutes (add waited 30 s, then warned it had not).
		e.UI.Printf("the running server (pid %d) is still starting; it serves the new catalog once it is ready (dist-server status says how far it came)\n", info.PID)
		return nil
	}
	// A local read, and the serial is what an interruption reports.
	local := context.WithoutCancel(ctx)
	db, err := catalog.Open(local, sp.Catalog())
	if err != nil {
		return nil
	}
	meta, err := db.Meta(local)
	db.Close()
	if err != nil {
		return nil
	}
	served := func() bool {
		st, err := fetchStatus(ctx, info.Control, 2*time.Second)
		return err == nil && st.Serial >= meta.Serial
	}
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !served() {
		select {
		case <-ctx.Done():
			e.UI.Warnf("interrupted: %s (catalog serial %d is committed), but the wait for the running server (pid %d) to load it was cut short; dist-server status shows the serial it serves\n",
				done, meta.Serial, info.PID)
			return ctx.Err()
		case <-deadline:
			e.UI.Warnf("the running server (pid %d) has not picked up catalog serial %d yet; see %s\n", info.PID, meta.Serial, sp.Log())
			return nil
		case <-tick.C:
		}
	}
	return nil
}

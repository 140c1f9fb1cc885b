package servercli

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/server"
)

// waitServed returns once a running server serves (and seeds) the working
// catalog's current serial, so that `add && sync && install` works at
// once. A server that is not running is nothing to wait for; one that does
// not catch up within the bound gets a warning.
func waitServed(ctx context.Context, e *env, sp paths.Server) {
	if _, running := runningPID(sp); !running {
		return
	}
	info, err := readInfo(sp)
	if err != nil || info.Control == "" {
		return
	}
	db, err := catalog.Open(ctx, sp.Catalog())
	if err != nil {
		return
	}
	meta, err := db.Meta(ctx)
	db.Close()
	if err != nil {
		return
	}
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if resp, err := client.Get(info.Control + "/status"); err == nil {
			var st server.Status
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err == nil && st.Serial >= meta.Serial {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.UI.Warnf("the running server (pid %d) has not picked up catalog serial %d yet; see %s\n", info.PID, meta.Serial, sp.Log())
}

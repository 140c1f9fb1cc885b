package catalogclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/redact"
)

// Status is what `dist-client status` shows of the local catalog.
type Status struct {
	Serial     int64     `json:"serial"`
	Packages   int       `json:"packages"`
	ServerURL  string    `json:"server_url,omitempty"`
	SyncedAt   time.Time `json:"synced_at,omitzero"`
	Created    time.Time `json:"created"`
	ValidUntil time.Time `json:"valid_until"`
	Expired    bool      `json:"expired"`
	// StateErr says why sync.json, which tells the server and the time
	// of the last sync, did not read (its fields are then empty): status
	// said "from , never synced" with no word of it (an attacker's run).
	StateErr string `json:"sync_state_error,omitempty"`
}

// maxStateFile bounds sync.json when read for a status.
const maxStateFile = 1 << 16

// ReadStatus describes the catalog held in dir, read-only; ErrNoCatalog
// when there is none yet.
func ReadStatus(ctx context.Context, dir string, now time.Time) (Status, error) {
	var st Status
	path, err := Path(dir)
	if err != nil {
		return st, err
	}
	info, err := inspect(ctx, path)
	if err != nil {
		return st, err
	}
	st.Serial, st.Packages = info.serial, info.packages
	st.Created, st.ValidUntil, st.Expired = info.meta.Created, info.meta.ValidUntil, info.meta.Expired(now)
	if b, err := fsutil.ReadRegular(filepath.Join(dir, stateFile), maxStateFile, true); err == nil {
		var s syncState
		if err := json.Unmarshal(b, &s); err != nil {
			st.StateErr = fmt.Sprintf("%s: %v (the next sync writes it again)", filepath.Join(dir, stateFile), err)
		} else {
			// Masked again: a version that kept passwords wrote it.
			st.ServerURL, st.SyncedAt = redact.URL(s.ServerURL), s.SyncedAt
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return st, err
	}
	return st, nil
}

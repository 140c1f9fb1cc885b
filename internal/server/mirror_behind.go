package server

import (
	"slices"
	"time"

	"github.com/distpac/distpac/internal/catalogclient"
)

// PrimaryBehind is a primary that gave a mirror's last sync a valid,
// signed catalog older than the one the mirror holds, while no primary
// gave a newer one: a primary restored from an older backup, or a second
// primary that is itself a mirror and has not caught up. The mirror
// serves the catalog it holds on (it never goes back), as a client keeps
// its catalog then (catalogclient.BehindError). Such a primary answers:
// it is not down, and the sync has not failed.
type PrimaryBehind struct {
	URL    string `json:"url"`    // masked (redact.URL)
	Serial int64  `json:"serial"` // the serial it serves
	Stale  bool   `json:"stale"`  // that catalog has expired too
}

// primariesBehind is what a sync that gave no catalog says of the
// primaries behind the catalog held (none when a primary gave one, or
// the sync failed).
func primariesBehind(res catalogclient.Result, syncErr error) []PrimaryBehind {
	if syncErr != nil || res.Server != "" {
		return nil
	}
	out := make([]PrimaryBehind, len(res.Behind))
	for i, b := range res.Behind {
		out[i] = PrimaryBehind{URL: b.URL, Serial: b.Serial, Stale: b.Stale}
	}
	return out
}

// noteBehind records, for status and metrics, the primaries behind the
// catalog held after a sync at now (behind, from primariesBehind), and
// logs when that changes: a primary behind is said once, not every round
// (a mirror syncs every minute, and a primary restored from a backup
// stays behind until it publishes past the serial held), and so is its
// catching up. res and syncErr are the sync's. The caller holds m.mu.
func (m *mirror) noteBehind(res catalogclient.Result, syncErr error, behind []PrimaryBehind, now time.Time) {
	was := m.sync.behind
	m.sync.behind = behind
	switch {
	case len(behind) == 0:
		m.sync.behindSince = time.Time{}
		if len(was) > 0 && syncErr == nil {
			m.log.Info("the primary has caught up with the catalog held", "primary", res.Server, "serial", res.Serial)
		}
		return
	case len(was) == 0:
		m.sync.behindSince = now
	}
	if slices.Equal(was, behind) {
		return
	}
	for _, b := range behind {
		if slices.Contains(was, b) {
			continue
		}
		if b.Stale {
			m.log.Warn("the primary serves a catalog older than the one held, and expired: it is behind and no longer re-signed (a mirror that stopped following its primary, or a copy no one updates); serving the catalog held",
				"primary", b.URL, "serial", b.Serial, "held", res.Serial)
			continue
		}
		m.log.Warn("the primary serves a catalog older than the one held: it is behind (restored from an older backup, or a mirror that has not caught up; a primary restored while its clock is behind publishes past the serial held with dist-server republish --past HELD); serving the catalog held",
			"primary", b.URL, "serial", b.Serial, "held", res.Serial)
	}
}

// behindGauge is distpac_mirror_primary_behind: 1 while every primary
// that answered the last sync was behind the catalog held.
func (m *mirror) behindGauge() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sync.behind) > 0 {
		return 1
	}
	return 0
}

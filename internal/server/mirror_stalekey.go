package server

// A mirror given its primary's key with --key verifies every catalog from
// that key: once the primary rotated its key, by following the rotation
// statements from it, again with every new catalog. The library said
// "following the server's key rotation" each time (once a minute while
// the primary published), and nothing said that --key was the thing to
// update (an operator's run, with the systemd unit's PRIMARY_KEY).

import (
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/signing"
)

// staleKey is what a mirror said of its --key being one the primary
// rotated away from: the key it named as the new one, and whether it said
// so of the catalog held. Only the round's goroutine uses it.
type staleKey struct {
	named signing.PublicKey
	held  bool
	// looked is the serial of the catalog held last looked at: a round
	// with nothing new looks at it again only once it changed (the look
	// reads and hashes the whole catalog, 210 MB for some).
	looked int64
}

// noteStaleKey warns, once for each key the primary hands over to, that
// the key given with --key is one the primary rotated away from: after a
// sync (res) that followed the rotation statements, naming the new key;
// otherwise, once, when the catalog held in dir is not signed by it (a
// start after the rotation, answered "not modified").
func (m *mirror) noteStaleKey(dir string, res catalogclient.Result) {
	given := m.opts.Key
	if given == nil {
		return
	}
	if n := len(res.Rotated); n > 0 {
		last := res.Rotated[n-1]
		if m.staleKey.named != nil && m.staleKey.named.Equal(last.New) {
			return
		}
		m.staleKey.named, m.staleKey.held = last.New, true
		m.log.Warn("the primary rotated its key away from the one given with --key; its catalogs verify through its rotation statements, but restart the mirror with --key set to the new key (the systemd unit's PRIMARY_KEY)",
			"primary", res.Server, "given", given.Fingerprint(), "new_key", last.New.String(), "new_fingerprint", last.New.Fingerprint(), "from_serial", last.Serial)
		return
	}
	if m.staleKey.held || res.Serial == m.staleKey.looked {
		return
	}
	m.staleKey.looked = res.Serial
	if by, err := catalogclient.HeldSignedBy(dir, given); err == nil && !by {
		m.staleKey.held = true
		m.log.Warn("the catalog held is signed by a key the primary rotated to from the one given with --key; restart the mirror with --key set to the key `dist-server key` prints on the primary (the systemd unit's PRIMARY_KEY)",
			"given", given.Fingerprint())
	}
}

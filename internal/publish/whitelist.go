package publish

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/fsutil"
)

// The tracker whitelist (server.yaml tracker_whitelist) lets opentracker
// replace the embedded tracker. Debian's opentracker is built whitelist-only
// (WANT_ACCESSLIST_WHITE): it tracks only the infohashes listed, in hex, one
// a line, in the file given with -w, and reads that file again on SIGHUP.
// The catalog's infohashes are what the embedded tracker allows too, so
// both trackers serve the same torrents.

// writeWhitelist rewrites the configured whitelist from the working
// catalog, right after a commit and before the signed catalog that lists
// the new packages is published. A failure is reported with the packages
// recorded: a running server rewrites the file on its next reload.
func (p *Publisher) writeWhitelist(ctx context.Context, db *catalog.DB) error {
	if p.Config == nil || p.Config.TrackerWhitelist == "" {
		return nil
	}
	pkgs, err := db.All(ctx)
	if err != nil {
		return err
	}
	if err := WriteWhitelist(p.Config.TrackerWhitelist, pkgs); err != nil {
		return fmt.Errorf("packages recorded, but %w (a running server writes it again)", err)
	}
	return nil
}

// Whitelist is the content of a tracker whitelist for pkgs: their
// infohashes in lowercase hex, sorted, one a line.
func Whitelist(pkgs []catalog.Package) []byte {
	hashes := make([]string, 0, len(pkgs))
	for _, p := range pkgs {
		hashes = append(hashes, p.InfoHash)
	}
	slices.Sort(hashes)
	var b bytes.Buffer
	for _, h := range slices.Compact(hashes) {
		b.WriteString(h)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// WriteWhitelist replaces the whitelist file at path atomically (a tracker
// reading it sees the old list or the new one), unless it already holds
// exactly that list. The file is world-readable: opentracker reads it as
// the user it drops to.
func WriteWhitelist(path string, pkgs []catalog.Package) error {
	want := Whitelist(pkgs)
	if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, want) {
		return nil
	}
	if err := fsutil.WriteFileAtomic(path, want, 0o644); err != nil {
		return fmt.Errorf("write tracker whitelist %s: %w", path, err)
	}
	return nil
}

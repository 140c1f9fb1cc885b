package state

import (
	"context"
	"fmt"
)

// SQLite keeps the pages a DELETE frees on a freelist inside the file and
// reuses them for later rows, but never gives them back to the filesystem
// by itself: installing a package of 300,000 empty files (a 408 KiB
// archive) and uninstalling it left installed.db at 66 MB, almost all of it
// free pages.
//
// Reclaim gives them back with a VACUUM when they are worth it. A VACUUM
// rather than auto_vacuum=INCREMENTAL: that mode takes effect only on a new
// database or after a VACUUM (so every existing one would need one anyway),
// adds pointer-map pages that every write keeps up to date, and left the
// file 12% larger than a VACUUM did for the same removal (below).
// In WAL mode a VACUUM is one transaction like any other: the new pages go
// to the WAL and the commit frame makes them the database; a kill -9
// before it leaves the old database, after it the new one (the next
// connection replays the WAL), and the file is truncated only by a
// checkpoint, after every page is in place. It runs under the lock, like
// every write.
//
// Measured on the lab machine (2 cores, ext4, beside another job), through
// internal/install, with a package of 300,000 empty files (paths
// many/dNNN/fNNNNNN, a 1.0 MB archive) and one of one file:
//
//	after installing both: installed.db 35,172,352 bytes
//	uninstalling the big one (27.1 s in all) left 86,523,904 bytes, all
//	  but 32 KiB of it free pages (its file list and the journal of its
//	  300,000 moves); Reclaim made it 32,768 bytes in 44 ms
//	uninstalling the small one beside the big one: Reclaim reads three
//	  pragmas, 0.11-0.22 ms, and leaves the file alone (the uninstall
//	  took 1.1 s)
//
// and in this package, with a second package of 300,000 files staying: the
// VACUUM rewrote 74.6 MB into 33.3 MB in 417 ms; with
// auto_vacuum=INCREMENTAL, incremental_vacuum took 366 ms and left 37.4 MB.
const (
	// reclaimMinFree is the free space below which the file is left as it
	// is: a few free pages are reused by the next install anyway.
	reclaimMinFree = 1 << 20
	// reclaimShare: the free pages must be at least 1/reclaimShare of the
	// file. A VACUUM rewrites what stays, so this bounds its cost by the
	// space it gives back: at a quarter, rewriting L live bytes comes
	// after at least L/3 bytes were freed.
	reclaimShare = 4
)

// Reclaim gives the space that removals freed inside the database back to
// the filesystem, when it is at least reclaimMinFree and a quarter of the
// file, and returns how many bytes it gave back (0 when it did nothing).
// Call it with the lock held, after the command's last commit. A failure
// (a full disk: VACUUM needs room for a copy of what stays) changes
// nothing; the space is given back by a later command.
func (db *DB) Reclaim(ctx context.Context) (int64, error) {
	pageSize, pages, free, err := db.pages(ctx)
	if err != nil {
		return 0, err
	}
	if free*pageSize < reclaimMinFree || free*reclaimShare < pages {
		return 0, nil
	}
	if _, err := db.sql.ExecContext(ctx, `VACUUM`); err != nil {
		return 0, fmt.Errorf("compact installed state %s: %w", db.path, err)
	}
	// The VACUUM's pages are in the WAL; a checkpoint copies them into the
	// file and truncates it. PASSIVE waits for no reader: one still
	// reading an older snapshot makes it stop short, and the last
	// connection to close finishes it.
	if _, err := db.sql.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
		return 0, fmt.Errorf("compact installed state %s: %w", db.path, err)
	}
	_, after, _, err := db.pages(ctx)
	if err != nil {
		return 0, err
	}
	return (pages - after) * pageSize, nil
}

// pages reads the page size, the number of pages and how many of them are
// free.
func (db *DB) pages(ctx context.Context) (pageSize, pages, free int64, err error) {
	err = db.sql.QueryRowContext(ctx,
		`SELECT page_size, page_count, freelist_count FROM pragma_page_size, pragma_page_count, pragma_freelist_count`).
		Scan(&pageSize, &pages, &free)
	if err != nil {
		return 0, 0, 0, db.damaged(err)
	}
	return pageSize, pages, free, nil
}

// Package cache bounds the client's archive cache: the archives of
// packages that are not installed go, least recently used first, until the
// cache fits client.yaml's cache_max_size. Both `dist-client clean` and the
// daemon (after each download) trim with it.
package cache

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/fsutil"
)

// PartSuffix ends the name of an archive still downloading: the BitTorrent
// library writes a torrent's file at its final name plus this, and renames
// it to the final name once every piece is verified (back, when a piece
// turns out bad).
const PartSuffix = ".part"

// PartName is the name (or path) of final while it downloads.
func PartName(final string) string { return final + PartSuffix }

// FinalName is the archive a cache file is or will be: name itself, or
// name without PartSuffix.
func FinalName(name string) string { return strings.TrimSuffix(name, PartSuffix) }

// IsPart reports whether name is an archive still downloading.
func IsPart(name string) bool { return strings.HasSuffix(name, PartSuffix) }

// Entry is one file of the cache.
type Entry struct {
	Name string
	Size int64
	// Disk is what removing it frees (fsutil.Freed): less than Size for
	// a sparse .part, whose length is the whole archive's.
	Disk int64
	Used time.Time // the later of its access and modification times
}

// List reads the cache's regular files.
func List(dir string) ([]Entry, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		used := fi.ModTime()
		if at, ok := fsutil.Atime(fi); ok && at.After(used) {
			used = at
		}
		out = append(out, Entry{Name: e.Name(), Size: fi.Size(), Disk: fsutil.Freed(fi), Used: used})
	}
	return out, nil
}

// Trim removes files of dir that keep does not name, least recently used
// first, until the cache holds at most max bytes (max ≤ 0: remove every such
// file). Partial downloads (PartSuffix) that keep does not name go first. It
// returns what it removed.
func Trim(dir string, keep func(name string) bool, max int64) (removed []Entry, err error) {
	victims, err := Victims(dir, keep, max)
	if err != nil {
		return nil, err
	}
	for _, v := range victims {
		if err := os.Remove(filepath.Join(dir, v.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, v)
	}
	return removed, nil
}

// Victims lists what Trim(dir, keep, max) would remove, in the order it
// would, and removes nothing (dist-client clean --dry-run).
func Victims(dir string, keep func(name string) bool, max int64) ([]Entry, error) {
	ents, err := List(dir)
	if err != nil {
		return nil, err
	}
	// The cache's size is the space its files take (Disk): a sparse
	// .part, as long as its whole archive, counted at its length made the
	// daemon trim other archives for space the part did not take.
	var total int64
	for _, e := range ents {
		total += e.Disk
	}
	var victims []Entry
	for _, e := range ents {
		if !keep(e.Name) {
			victims = append(victims, e)
		}
	}
	slices.SortFunc(victims, func(a, b Entry) int {
		ap, bp := IsPart(a.Name), IsPart(b.Name)
		switch {
		case ap != bp && ap:
			return -1
		case ap != bp:
			return 1
		}
		return a.Used.Compare(b.Used)
	})
	for i, v := range victims {
		if max > 0 && total <= max {
			return victims[:i], nil
		}
		total -= v.Disk
	}
	return victims, nil
}

package stage

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Watch notices paths that appear in a prefix while install scripts run:
// what a script of the old contract writes straight into the prefix. A
// new entry changes its directory's modification time, so after the first
// walk (a directory listing per directory, no stat per file) each check
// stats the known directories and lists only those that changed: a prefix
// of 100,000 files in 5,000 directories costs 5,000 stats per script. A file
// overwritten in place changes no directory and is not noticed.
//
// One Watch serves every script of a transaction. The zero value with
// Prefix and Exclude set is ready; nothing is read before the first Begin.
type Watch struct {
	Prefix  string
	Exclude []string // directories skipped (the data home, the staging area)

	dirs    map[string]dirState // by path relative to Prefix ("" is Prefix)
	skip    map[string]bool
	started bool
	off     bool // too large to watch
}

type dirState struct {
	mtime  int64 // the directory's modification time
	listed int64 // when it was listed
	names  map[string]bool
}

// racy is how close to its listing a directory's modification time may be
// and still hide a later change: file systems stamp times from a clock
// that moves in ticks of milliseconds, so a directory changed again within
// the tick keeps its time. Such directories are listed again on every check.
const racy = int64(2 * time.Second)

func (d dirState) mayHide() bool { return d.listed-d.mtime < racy }

// maxWatched bounds the entries a Watch holds; beyond it, it stops
// watching rather than slow every install down.
const maxWatched = 400_000

// Begin takes the first listing of the prefix (once per Watch).
func (w *Watch) Begin() {
	if w.started {
		return
	}
	w.started = true
	w.dirs = map[string]dirState{}
	w.skip = map[string]bool{}
	for _, e := range w.Exclude {
		w.skip[filepath.Clean(e)] = true
	}
	w.add("", nil)
}

// add lists the directory rel and, recursively, its subdirectories,
// appending every entry under it to found when found is not nil.
func (w *Watch) add(rel string, found *[]string) {
	abs := filepath.Join(w.Prefix, rel)
	if w.off || w.skip[abs] {
		return
	}
	mtime, ok := dirMtime(abs)
	if !ok {
		return
	}
	ents, err := os.ReadDir(abs)
	if err != nil {
		return
	}
	st := dirState{mtime: mtime, listed: time.Now().UnixNano(), names: make(map[string]bool, len(ents))}
	w.dirs[rel] = st
	for _, e := range ents {
		st.names[e.Name()] = true
		if len(w.dirs)+len(st.names) > maxWatched {
			w.off = true
			return
		}
		p := path(rel, e.Name())
		if w.skip[filepath.Join(w.Prefix, p)] {
			continue
		}
		if e.IsDir() {
			before := 0
			if found != nil {
				before = len(*found)
			}
			w.add(p, found)
			if found != nil && len(*found) == before {
				*found = append(*found, p) // an empty new directory
			}
		} else if found != nil {
			*found = append(*found, p)
		}
	}
}

// Changes lists the paths (relative, sorted) that appeared since Begin or
// the last Changes: files and symlinks, and new directories only when
// empty. It returns nil when the prefix is too large to watch.
func (w *Watch) Changes() []string {
	if !w.started || w.off {
		return nil
	}
	var found []string
	if _, ok := w.dirs[""]; !ok {
		w.add("", &found) // the prefix appeared
	}
	known := make([]string, 0, len(w.dirs))
	for rel := range w.dirs {
		known = append(known, rel)
	}
	sort.Strings(known)
	for _, rel := range known {
		st, ok := w.dirs[rel]
		if !ok {
			continue // under a directory that went away
		}
		abs := filepath.Join(w.Prefix, rel)
		mtime, exists := dirMtime(abs)
		if !exists {
			w.forget(rel)
			continue
		}
		if mtime == st.mtime && !st.mayHide() {
			continue
		}
		listed := time.Now().UnixNano()
		ents, err := os.ReadDir(abs)
		if err != nil {
			continue
		}
		names := make(map[string]bool, len(ents))
		for _, e := range ents {
			names[e.Name()] = true
			p := path(rel, e.Name())
			if st.names[e.Name()] || w.skip[filepath.Join(w.Prefix, p)] {
				continue
			}
			if e.IsDir() {
				before := len(found)
				w.add(p, &found)
				if len(found) == before {
					found = append(found, p)
				}
			} else {
				found = append(found, p)
			}
		}
		w.dirs[rel] = dirState{mtime: mtime, listed: listed, names: names}
	}
	if w.off {
		return nil
	}
	sort.Strings(found)
	return found
}

// forget drops a directory and everything known under it.
func (w *Watch) forget(rel string) {
	for r := range w.dirs {
		if r == rel || strings.HasPrefix(r, rel+"/") {
			delete(w.dirs, r)
		}
	}
}

func path(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// dirMtime is a directory's modification time in nanoseconds.
func dirMtime(p string) (int64, bool) {
	fi, err := os.Lstat(p)
	if err != nil || !fi.IsDir() {
		return 0, false
	}
	return fi.ModTime().UnixNano(), true
}

package stage

import (
	"errors"
	"io/fs"
	"path/filepath"
	"sort"
	"syscall"
)

// snapshot is what the prefix held before a script ran, to notice files
// the script wrote straight into it (the old contract).
type snapshot map[string]sig

// sig identifies one version of a path cheaply.
type sig struct {
	mode  fs.FileMode
	size  int64
	mtime int64
	ino   uint64
}

// maxSnapshot bounds the prefix walk. A prefix of 100,000 entries walks in
// about 0.2 s; beyond this the check is skipped rather than slow.
const maxSnapshot = 400_000

var errTooMany = errors.New("prefix too large to watch")

// takeSnapshot walks prefix, skipping the directories in exclude (the data
// home, the staging area). A missing prefix is an empty snapshot; nil means
// the prefix was too large to watch.
func takeSnapshot(prefix string, exclude []string) snapshot {
	s := snapshot{}
	skip := map[string]bool{}
	for _, e := range exclude {
		skip[filepath.Clean(e)] = true
	}
	err := filepath.WalkDir(prefix, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == prefix {
				return filepath.SkipAll
			}
			return nil // unreadable parts are not watched
		}
		if skip[p] {
			return filepath.SkipDir
		}
		if p == prefix {
			return nil
		}
		if len(s) >= maxSnapshot {
			return errTooMany
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		g := sig{mode: info.Mode(), size: info.Size(), mtime: info.ModTime().UnixNano()}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			g.ino = st.Ino
		}
		s[filepath.ToSlash(p[len(prefix)+1:])] = g
		return nil
	})
	if err != nil {
		return nil
	}
	return s
}

// changed lists the paths that are new or different in after, sorted:
// files and symlinks, and directories only when nothing inside them
// changed (so "mkdir -p bin; cp x bin/" names bin/x, not bin).
func changed(before, after snapshot) []string {
	var all []string
	for p, g := range after {
		if old, ok := before[p]; !ok || (!g.mode.IsDir() && old != g) {
			all = append(all, p)
		}
	}
	sort.Strings(all)
	var out []string
	for i, p := range all {
		if after[p].mode.IsDir() && i+1 < len(all) && len(all[i+1]) > len(p) && all[i+1][:len(p)+1] == p+"/" {
			continue
		}
		out = append(out, p)
	}
	return out
}

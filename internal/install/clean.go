package install

import (
	"context"
	"os"
	"path/filepath"

	"github.com/distpac/distpac/internal/cache"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/state"
)

// Cleaned is one file (or an older dist-client's extracted package, a
// directory) that Clean removed, or would remove in a dry run.
type Cleaned struct {
	Path  string `json:"path"`
	Files int    `json:"files"` // 1, or the files under an extracted package
	// Bytes is the space removing it frees (fsutil.Freed): an interrupted
	// download's sparse .part of a 28.8 MiB archive counted 28.8 MiB where
	// it took 6.3 MiB (a newcomer's run).
	Bytes int64 `json:"bytes"`
	// Length is a sparse file's length, when it is more than Bytes.
	Length int64  `json:"length_bytes,omitempty"`
	Why    string `json:"reason"`
}

// Clean removes cached archives that no installed package needs, leftovers
// of interrupted downloads and packages an older dist-client kept extracted
// in pkgs/ for versions no longer installed, and returns what it removed.
// With seed: cached and a cache_max_size, archives of packages that are not
// installed are kept for seeding as long as the cache fits: the least
// recently used go first, until it does. With dryRun it removes nothing
// and returns what it would remove (apt-get clean -s, pacman -Sc's list).
func (c *Client) Clean(ctx context.Context, dryRun bool) (out []Cleaned, err error) {
	lock, err := c.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	st, err := state.Load(c.Paths.Installed())
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	keepDir := map[string]bool{}
	for _, r := range st.Packages {
		keep[r.Archive] = true
		keepDir[r.Name+"-"+r.Version] = true
	}
	var bound int64
	if c.Config.Seed == config.SeedCached {
		bound = int64(c.Config.CacheMaxSize)
	}
	trim := cache.Trim
	if dryRun {
		trim = cache.Victims
	}
	removed, err := trim(c.Paths.Cache(), func(name string) bool { return keep[name] }, bound)
	for _, e := range removed {
		why := "no installed package needs it"
		switch {
		case cache.IsPart(e.Name):
			// The words of the interrupted install's warning ("... of
			// hello 1.0.0's archive is kept in DIR: the next install or
			// upgrade that needs it resumes from there").
			why = "kept by an interrupted download: the next install or upgrade that needs it would resume from there"
		case bound > 0:
			why += "; least recently used of those over cache_max_size"
		}
		cl := Cleaned{Path: filepath.Join(c.Paths.Cache(), e.Name), Files: 1, Bytes: e.Disk, Why: why}
		if e.Size > e.Disk {
			cl.Length = e.Size
		}
		out = append(out, cl)
	}
	if err != nil {
		return out, err
	}
	old, _ := os.ReadDir(c.Paths.Packages())
	for _, e := range old {
		if keepDir[e.Name()] || !e.IsDir() {
			continue
		}
		dir := filepath.Join(c.Paths.Packages(), e.Name())
		n, size := du(dir)
		if !dryRun {
			if err := os.RemoveAll(dir); err != nil {
				return out, err
			}
		}
		out = append(out, Cleaned{Path: dir, Files: n, Bytes: size, Why: "extracted by an older dist-client, not installed"})
	}
	return out, nil
}

// du counts the files under dir and the space they take (fsutil.Freed).
func du(dir string) (n int, size int64) {
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n++
				size += fsutil.Freed(fi)
			}
		}
		return nil
	})
	return n, size
}

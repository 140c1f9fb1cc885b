package install

import (
	"context"
	"os"
	"path/filepath"

	"github.com/distpac/distpac/internal/cache"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/state"
)

// Clean removes cached archives that no installed package needs, leftovers
// of interrupted downloads and packages an older dist-client kept extracted
// in pkgs/ for versions no longer installed, returning the bytes freed.
// With seed: cached and a cache_max_size, archives of packages that are not
// installed are kept for seeding as long as the cache fits: the least
// recently used go first, until it does.
func (c *Client) Clean(ctx context.Context) (files int, freed int64, err error) {
	lock, err := c.Lock(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer lock.Release()
	st, err := state.Load(c.Paths.Installed())
	if err != nil {
		return 0, 0, err
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
	removed, err := cache.Trim(c.Paths.Cache(), func(name string) bool { return keep[name] }, bound)
	for _, e := range removed {
		files++
		freed += e.Size
	}
	if err != nil {
		return files, freed, err
	}
	old, _ := os.ReadDir(c.Paths.Packages())
	for _, e := range old {
		if keepDir[e.Name()] || !e.IsDir() {
			continue
		}
		dir := filepath.Join(c.Paths.Packages(), e.Name())
		n, size := du(dir)
		if err := os.RemoveAll(dir); err != nil {
			return files, freed, err
		}
		files += n
		freed += size
	}
	return files, freed, nil
}

// du counts the files under dir and their bytes.
func du(dir string) (n int, size int64) {
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n++
				size += fi.Size()
			}
		}
		return nil
	})
	return n, size
}

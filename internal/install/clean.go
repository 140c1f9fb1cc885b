package install

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/distpac/distpac/internal/state"
)

// Clean removes cached archives that no installed package needs, leftovers
// of interrupted downloads and packages an older dist-client kept extracted
// in pkgs/ for versions no longer installed, returning the bytes freed.
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
	entries, err := os.ReadDir(c.Paths.Cache())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, 0, err
	}
	for _, e := range entries {
		if keep[e.Name()] || e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if err := os.Remove(filepath.Join(c.Paths.Cache(), e.Name())); err != nil {
			return files, freed, err
		}
		files++
		freed += info.Size()
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

package install

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"

	"github.com/distpac/distpac/internal/units"
)

// ErrNoSpace marks a plan that does not fit on the disk.
var ErrNoSpace = errors.New("not enough disk space")

// space is one filesystem's free bytes.
type space struct {
	dev  uint64
	free int64
	path string // the directory asked about
}

// statSpace reports the filesystem holding dir, or its nearest existing
// parent.
func statSpace(dir string) (space, error) {
	p := dir
	for {
		var fs syscall.Statfs_t
		err := syscall.Statfs(p, &fs)
		if err == nil {
			var st syscall.Stat_t
			if err := syscall.Stat(p, &st); err != nil {
				return space{}, fmt.Errorf("free space of %s: %w", dir, err)
			}
			return space{dev: uint64(st.Dev), free: int64(fs.Bavail) * int64(fs.Bsize), path: dir}, nil
		}
		if !errors.Is(err, syscall.ENOENT) || p == filepath.Dir(p) {
			return space{}, fmt.Errorf("free space of %s: %w", dir, err)
		}
		p = filepath.Dir(p)
	}
}

// margin is added to what a plan needs: the directories, the state's WAL
// and the file systems' own rounding (1 MiB, plus 1 %).
func margin(n int64) int64 { return 1<<20 + n/100 }

// checkSpace refuses a plan before any download when the cache's or the
// prefix's filesystem has less free space than the plan needs. The prefix
// needs every package's installed size, plus the largest once more: a
// package with an install script is extracted and staged at once. The
// cache needs download, what the plan has left to download (the
// downloadSizes the plan printed: the cache is looked at once).
func (c *Client) checkSpace(items []item, download int64) error {
	var installed, largest int64
	for _, it := range items {
		installed += it.row.InstalledSize
		largest = max(largest, it.row.InstalledSize)
	}
	staging := installed + largest
	cache, err := statSpace(c.Paths.Cache())
	if err != nil {
		return err
	}
	prefix, err := statSpace(c.Config.Prefix)
	if err != nil {
		return err
	}
	fail := func(s space, need int64, what string) error {
		return fmt.Errorf("%w: %s has %s free, this needs %s (%s, with a margin); free some space or choose another prefix",
			ErrNoSpace, s.path, units.FormatBytes(s.free), units.FormatBytes(need), what)
	}
	if cache.dev == prefix.dev {
		need := download + staging
		if need += margin(need); need > cache.free {
			return fail(cache, need, fmt.Sprintf("%s to download and %s to stage and install", units.FormatBytes(download), units.FormatBytes(staging)))
		}
		return nil
	}
	if need := download + margin(download); download > 0 && need > cache.free {
		return fail(cache, need, units.FormatBytes(download)+" to download")
	}
	if need := staging + margin(staging); need > prefix.free {
		return fail(prefix, need, units.FormatBytes(staging)+" to stage and install")
	}
	return nil
}

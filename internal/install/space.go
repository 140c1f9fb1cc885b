package install

import (
	"errors"
	"fmt"

	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/units"
)

// ErrNoSpace marks a plan that does not fit on the disk.
var ErrNoSpace = errors.New("not enough disk space")

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
	cache, err := fsutil.StatSpace(c.Paths.Cache())
	if err != nil {
		return err
	}
	prefix, err := fsutil.StatSpace(c.Config.Prefix)
	if err != nil {
		return err
	}
	fail := func(s fsutil.Space, need int64, what string) error {
		return fmt.Errorf("%w: %s has %s free, this needs %s (%s, with a margin); free some space or choose another prefix",
			ErrNoSpace, s.Path, units.FormatBytes(s.Free), units.FormatBytes(need), what)
	}
	if cache.Dev == prefix.Dev {
		need := download + staging
		if need += margin(need); need > cache.Free {
			return fail(cache, need, fmt.Sprintf("%s to download and %s to stage and install", units.FormatBytes(download), units.FormatBytes(staging)))
		}
		return nil
	}
	if need := download + margin(download); download > 0 && need > cache.Free {
		return fail(cache, need, units.FormatBytes(download)+" to download")
	}
	if need := staging + margin(staging); need > prefix.Free {
		return fail(prefix, need, units.FormatBytes(staging)+" to stage and install")
	}
	return nil
}

package server

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/distpac/distpac/internal/cache"
	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/units"
)

// mirrorDiskSlack is kept free on the mirror's disk beside twice the
// catalog (see diskRoom): for the catalog of the next sync growing, its
// rotation statements, sync.json, server.json, the log and the
// directories.
const mirrorDiskSlack = 16 << 20

// errNoRoom: an archive the mirror's disk has no room for.
var errNoRoom = errors.New("not enough disk space")

// diskRoom keeps a mirror's archive downloads from filling its disk. The
// mirror downloads every archive its primary's signed catalog lists, and
// a catalog whose archives outgrow the disk (a primary that grew, or a
// hostile one) filled it: every later sync then failed writing the new
// catalog ("no space left on device"), so the mirror served its old
// catalog until it expired, and downloaded the same part of an archive
// again every round, only to fail writing it. A download starts now only
// when what it still needs fits in the free space beside the reserve
// (twice the catalog held, which a sync writes again beside it, and
// mirrorDiskSlack) and what the downloads under way may still write.
type diskRoom struct {
	dir     string // the archives directory
	reserve int64

	mu   sync.Mutex
	held int64 // bytes the downloads under way may still write; guarded by mu
}

func newDiskRoom(dir string, catalogSize int64) *diskRoom {
	return &diskRoom{dir: dir, reserve: 2*catalogSize + mirrorDiskSlack}
}

// take holds room for p's archive, less what of it is on disk already
// (the part an earlier round downloaded). It returns what it held, to
// give back when the download ends, or an error wrapping errNoRoom that
// says what is free and what is needed. The room held is counted until
// the download ends, while the bytes written also leave the free space:
// downloads side by side are judged as if nothing of them were written
// yet, never short.
func (r *diskRoom) take(p catalog.Package) (int64, error) {
	path := filepath.Join(r.dir, p.Archive)
	need := max(0, p.Size-fsutil.Allocated(cache.PartName(path))-fsutil.Allocated(path))
	sp, err := fsutil.StatSpace(r.dir)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if sp.Free-r.held-r.reserve < need {
		return 0, fmt.Errorf("%w for %s: %s has %s free, %s held for the downloads under way and %s kept for the catalog; this archive needs %s more",
			errNoRoom, p.Archive, r.dir, units.FormatBytes(sp.Free), units.FormatBytes(r.held), units.FormatBytes(r.reserve), units.FormatBytes(need))
	}
	r.held += need
	return need, nil
}

// give returns the room take held.
func (r *diskRoom) give(n int64) {
	r.mu.Lock()
	r.held -= n
	r.mu.Unlock()
}

package swarm

import (
	"cmp"
	"slices"
	"sync"

	"github.com/distpac/distpac/internal/connlimit"
)

// filePool bounds the payload descriptors a fileStorage keeps open. Each
// torrent keeps its file open between chunks (openFile), which saves an
// open and a close per chunk; without a bound a seeder held one
// descriptor for every archive a peer had asked for, until it stopped: a
// publisher and a mirror of 5,000 archives held 5,030 each once a mirror
// had fetched them all, and with a limit of 2,048 the publisher's catalog
// listener failed to accept ("too many open files") and the mirror got
// 2,018 of the 5,000. A catalog of 20,000 packages did the same under the
// usual limit of 20,000. Past the bound, the files used longest ago that
// no read or write is using are closed, and opened again when next asked
// for.
type filePool struct {
	max int

	mu   sync.Mutex
	open map[*openFile]struct{} // files that may hold a descriptor; guarded by mu
}

// maxPayloadFiles bounds the open payload files of one engine; a quarter of
// the descriptor limit when that is less. A swarm serves a few packages
// at once (a release), so the ones in use stay open.
const maxPayloadFiles = 1024

func newFilePool() *filePool {
	n := maxPayloadFiles
	if lim := connlimit.OpenFileLimit(); lim > 0 {
		n = max(16, min(n, lim/4))
	}
	return &filePool{max: n, open: map[*openFile]struct{}{}}
}

// opened counts o, which has just opened a descriptor, and, past the
// bound, closes those of the files used longest ago (down to seven eighths
// of it, so that a swarm going round more files than the bound sorts them
// once every max/8 opens, not at every open).
func (p *filePool) opened(o *openFile) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open[o] = struct{}{}
	if len(p.open) <= p.max {
		return
	}
	files := make([]*openFile, 0, len(p.open))
	for f := range p.open {
		if f != o {
			files = append(files, f)
		}
	}
	slices.SortFunc(files, func(a, b *openFile) int { return cmp.Compare(a.used.Load(), b.used.Load()) })
	for _, f := range files {
		if len(p.open) <= p.max-p.max/8 {
			break
		}
		if f.shed() {
			delete(p.open, f)
		}
	}
}

// forget drops o, closed with its torrent.
func (p *filePool) forget(o *openFile) {
	p.mu.Lock()
	delete(p.open, o)
	p.mu.Unlock()
}

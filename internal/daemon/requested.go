package daemon

import (
	"sync"
	"time"
)

// requestGrace is how long an archive stays out of a cache trim after the
// last download request that named it ended: the install that asked
// extracts it after its download completes, possibly after its request
// ended (the request ends with its last archive; a large archive extracts
// for a while).
const requestGrace = 10 * time.Minute

// requested holds the archives of the download requests in flight and of
// those ended within requestGrace. A cache trim after one request leaves
// them alone: before, it could remove an archive another install had just
// downloaded and not yet extracted, which that install then downloaded
// again.
type requested struct {
	mu    sync.Mutex
	busy  map[string]int       // archive -> requests in flight naming it
	ended map[string]time.Time // archive -> when the last request naming it ended
}

// hold marks archives as requested until release is called.
func (q *requested) hold(archives []string) (release func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.busy == nil {
		q.busy, q.ended = map[string]int{}, map[string]time.Time{}
	}
	for _, a := range archives {
		q.busy[a]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			defer q.mu.Unlock()
			now := time.Now()
			for _, a := range archives {
				if q.busy[a]--; q.busy[a] <= 0 {
					delete(q.busy, a)
					q.ended[a] = now
				}
			}
		})
	}
}

// held returns the archives named by a request in flight or by one ended
// within requestGrace of now, and forgets those ended before. A nil q
// holds nothing.
func (q *requested) held(now time.Time) map[string]bool {
	if q == nil {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make(map[string]bool, len(q.busy)+len(q.ended))
	for a := range q.busy {
		out[a] = true
	}
	for a, t := range q.ended {
		if now.Sub(t) >= requestGrace {
			delete(q.ended, a)
			continue
		}
		out[a] = true
	}
	return out
}

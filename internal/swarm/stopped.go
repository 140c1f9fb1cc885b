package swarm

import (
	"context"
	"net/url"
	"sync"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/tracker"
)

// stoppedBudget bounds how long Close spends telling trackers it leaves.
const stoppedBudget = 500 * time.Millisecond

// stopped is one "stopped" announce to send at Close.
type stopped struct {
	url string
	req tracker.AnnounceRequest
}

// stoppedAnnounces lists, for every torrent, a "stopped" announce to each
// of its HTTP trackers. The library sends one from a goroutine as a torrent
// closes, but Client.Close does not wait for it, so a process that exits
// right after (every `dist-client install`) left its address in the
// tracker's swarm until the peer expired, and other clients were sent to a
// closed port meanwhile.
func (e *Engine) stoppedAnnounces() []stopped {
	if e.disableTrackers {
		return nil
	}
	e.mu.Lock()
	ts := make([]*torrent.Torrent, 0, len(e.torrents))
	for _, t := range e.torrents {
		ts = append(ts, t)
	}
	e.mu.Unlock()
	var out []stopped
	id := e.cl.PeerID()
	for _, t := range ts {
		if t.Info() == nil {
			continue
		}
		mi := t.Metainfo()
		st := t.Stats()
		req := tracker.AnnounceRequest{
			InfoHash:   t.InfoHash(),
			PeerId:     id,
			Downloaded: st.BytesReadData.Int64(),
			Uploaded:   st.BytesWrittenData.Int64(),
			Left:       t.BytesMissing(),
			Event:      tracker.Stopped,
			NumWant:    0,
			Port:       e.addr.Port(),
		}
		for _, u := range mi.UpvertedAnnounceList().DistinctValues() {
			if p, err := url.Parse(u); err == nil && (p.Scheme == "http" || p.Scheme == "https") {
				out = append(out, stopped{url: u, req: req})
			}
		}
	}
	return out
}

// sendStopped sends the announces at once and waits at most stoppedBudget.
func sendStopped(as []stopped) {
	if len(as) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), stoppedBudget)
	defer cancel()
	var wg sync.WaitGroup
	for _, a := range as {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tracker.Announce{TrackerUrl: a.url, Request: a.req, Context: ctx}.Do()
		}()
	}
	wg.Wait()
}

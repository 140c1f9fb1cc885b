package swarm

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/anacrolix/torrent"
)

// TorrentStatus is one torrent of an engine, as `dist-client status` and
// the metrics show it (transmission-remote -l).
type TorrentStatus struct {
	InfoHash string `json:"infohash"`
	Name     string `json:"name"`
	// State is "downloading" or "seeding".
	State string `json:"state"`
	Size  int64  `json:"size"`
	Done  int64  `json:"done"`
	Peers int    `json:"peers"`
	// Uploaded and Downloaded are payload bytes since the torrent was added
	// to this engine; the rates are bytes per second over the last few
	// seconds.
	Uploaded   int64   `json:"uploaded_bytes"`
	Downloaded int64   `json:"downloaded_bytes"`
	UpRate     float64 `json:"upload_rate"`
	DownRate   float64 `json:"download_rate"`
	// Ratio is Uploaded over Size.
	Ratio float64   `json:"ratio"`
	Added time.Time `json:"added"`
	// Seeding is when the torrent was first complete in this engine (zero
	// while downloading).
	Seeding time.Time `json:"seeding_since,omitzero"`
}

// rateWindow is how often the rates are sampled.
const rateWindow = 2 * time.Second

// rateSample is a torrent's counters at the last sampling.
type rateSample struct {
	at             time.Time
	up, down       int64
	upRate, dnRate float64
}

// statusBook keeps what TorrentStatus needs beyond the library's counters.
type statusBook struct {
	mu      sync.Mutex
	added   map[InfoHash]time.Time
	seeding map[InfoHash]time.Time
	samples map[InfoHash]rateSample
}

func newStatusBook() *statusBook {
	return &statusBook{added: map[InfoHash]time.Time{}, seeding: map[InfoHash]time.Time{}, samples: map[InfoHash]rateSample{}}
}

func (b *statusBook) noteAdded(ih InfoHash) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.added[ih]; !ok {
		b.added[ih] = time.Now()
	}
}

func (b *statusBook) forget(ih InfoHash) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.added, ih)
	delete(b.seeding, ih)
	delete(b.samples, ih)
}

// torrentList returns the engine's torrents.
func (e *Engine) torrentList() []*torrent.Torrent {
	e.mu.Lock()
	defer e.mu.Unlock()
	ts := make([]*torrent.Torrent, 0, len(e.torrents))
	for _, t := range e.torrents {
		ts = append(ts, t)
	}
	return ts
}

// Torrents returns every torrent of the engine, by name. Its rates are
// those of the last rateWindow sampled (0 until a torrent's second
// sample).
func (e *Engine) Torrents() []TorrentStatus {
	b := e.status
	ts := e.torrentList()
	out := make([]TorrentStatus, 0, len(ts))
	for _, t := range ts {
		if t.Info() == nil {
			continue
		}
		ih := t.InfoHash()
		st := t.Stats()
		s := TorrentStatus{
			InfoHash:   ih.HexString(),
			Name:       t.Name(),
			State:      "downloading",
			Size:       t.Length(),
			Done:       t.BytesCompleted(),
			Peers:      st.ActivePeers,
			Uploaded:   st.BytesWrittenData.Int64(),
			Downloaded: st.BytesReadData.Int64(),
		}
		if s.Size > 0 {
			s.Ratio = float64(s.Uploaded) / float64(s.Size)
		}
		complete := s.Done == s.Size
		b.mu.Lock()
		s.Added = b.added[ih]
		if complete {
			s.State = "seeding"
			b.noteSeeding(ih, time.Now())
			s.Seeding = b.seeding[ih]
		}
		if smp, ok := b.samples[ih]; ok {
			s.UpRate, s.DownRate = smp.upRate, smp.dnRate
		}
		b.mu.Unlock()
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b TorrentStatus) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// noteSeeding records when ih was first seen complete; b.mu held.
func (b *statusBook) noteSeeding(ih InfoHash, at time.Time) {
	if _, ok := b.seeding[ih]; !ok {
		b.seeding[ih] = at
	}
}

// sampleRates updates every torrent's rates, and notes when each became
// complete, each rateWindow until the engine closes. It runs from New:
// started by the first Torrents call, it left that call's rates at 0
// (the first dist-client status of a daemon said 0 B/s of downloads
// under way at 1 MiB/s) and its seeding_since at the time of the call.
func (e *Engine) sampleRates() {
	tick := time.NewTicker(rateWindow)
	defer tick.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		for _, t := range e.torrentList() {
			st := t.Stats()
			up, down := st.BytesWrittenData.Int64(), st.BytesReadData.Int64()
			ih := t.InfoHash()
			complete := t.Info() != nil && t.BytesCompleted() == t.Length()
			e.status.mu.Lock()
			if complete {
				e.status.noteSeeding(ih, now)
			}
			prev, ok := e.status.samples[ih]
			smp := rateSample{at: now, up: up, down: down}
			if ok {
				dt := now.Sub(prev.at).Seconds()
				smp.upRate, smp.dnRate = float64(up-prev.up)/dt, float64(down-prev.down)/dt
			}
			e.status.samples[ih] = smp
			e.status.mu.Unlock()
		}
	}
}

// Stats are engine-wide counters.
type Stats struct {
	Torrents   int
	Peers      int   // connected peers, summed over torrents
	Uploaded   int64 // payload bytes sent
	Downloaded int64 // payload bytes received (from peers and web seeds)
	// PublisherQueue is the deepest request queue this engine has kept at
	// a publisher (queue.go); 0 if it met none.
	PublisherQueue int
}

// Stats returns engine-wide counters.
func (e *Engine) Stats() Stats {
	cs := e.cl.Stats()
	ts := e.torrentList()
	s := Stats{Torrents: len(ts), Uploaded: cs.BytesWrittenData.Int64(), Downloaded: cs.BytesReadData.Int64() + e.webBytes.Load(), PublisherQueue: int(e.queues.deepest.Load())}
	for _, t := range ts {
		s.Peers += t.Stats().ActivePeers
	}
	return s
}

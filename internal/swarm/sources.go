package swarm

// What a download's sources did (Sources, in its Progress): the peers
// and each web seed, with the bytes each sent so far, pieces not yet whole
// included. dist-client's stall watchdog counts these bytes, and its error
// names the sources and what each sent in the window: it said "no data
// received for 2m0s from any peer or web seed", naming no server, of a web
// seed that answered and then dripped a byte a second.

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distpac/distpac/internal/redact"
	"github.com/distpac/distpac/internal/torrentmeta"
	"github.com/distpac/distpac/internal/ui"
	"github.com/distpac/distpac/internal/units"
)

// Sources is what a download's sources did so far (Progress.Sources);
// the daemon sends it to the install (MergeSources over a request's).
type Sources struct {
	// Peers is how many peers are connected now.
	Peers int `json:"peers"`
	// FromPeers is the payload peers sent so far (the servers' seeders
	// included), counted as each chunk comes.
	FromPeers int64          `json:"from_peers_bytes"`
	WebSeeds  []SeedActivity `json:"web_seeds,omitempty"`
}

// SeedActivity is what one web seed did for a download.
type SeedActivity struct {
	// Seed is the seed's base URL, URL the archive's under it, both as
	// messages show them (redact.URL); URL is "" once merged over
	// several archives (MergeSources).
	Seed string `json:"seed"`
	URL  string `json:"url,omitempty"`
	// LastResort: a server of server_urls asked only when BitTorrent has
	// no source (WebSeedOrder); otherwise a web seed.
	LastResort bool `json:"last_resort,omitempty"`
	// Asked counts the requests made to it; Sent the body bytes it sent,
	// as they came (a piece need not be whole); Again those of Sent that
	// a web seed's body had given before in the download (a fetch that
	// ended before their piece was whole, asked anew; a piece held too
	// long, asked of the next seed too), which are no progress
	// (Received).
	Asked int   `json:"asked"`
	Sent  int64 `json:"sent_bytes"`
	Again int64 `json:"again_bytes,omitempty"`
	// Fetching: a fetch from it runs now.
	Fetching bool `json:"fetching,omitempty"`
	// Answer is its last reply's status ("HTTP 206 Partial Content");
	// Failed how its last fetch failed ("" when it did not, or runs).
	Answer string `json:"answer,omitempty"`
	Failed string `json:"failed,omitempty"`
}

// maxSeedText bounds an answer or failure kept per seed: they reach the
// daemon's events, which are bounded (daemon.maxEventBytes).
const maxSeedText = 256

// Received is the payload the sources sent so far: peers' and web seeds',
// less what web seeds sent again. Counted twice, a web seed that hangs up
// before a piece is whole, every time it is asked, held an install for
// good: 60 KiB of each 64 KiB piece every 5 s is 12 KiB/s to the stall
// watchdog, which counted completed bytes before and gave up in its time.
//
// Each term counts from 0 and the sum stops at math.MaxInt64: a daemon's
// numbers are bounded one by one (daemon.Event.shown), and the web seeds of
// one event of a fake daemon summed past it into a negative count.
func (s Sources) Received() int64 {
	n := max(s.FromPeers, 0)
	for _, w := range s.WebSeeds {
		d := max(w.Sent-w.Again, 0)
		if n > math.MaxInt64-d {
			return math.MaxInt64
		}
		n += d
	}
	return n
}

// MergeSources sums the sources of several downloads (an install's
// archives): the peers' bytes add up, peers connected are the most any
// download has (one peer serves several archives, as Progress.Peers is
// summed elsewhere), and a web seed's activity is merged by its base URL,
// in the order first seen.
func MergeSources(all []Sources) Sources {
	var out Sources
	at := map[string]int{} // a seed's index in out.WebSeeds
	for _, s := range all {
		out.Peers = max(out.Peers, s.Peers)
		out.FromPeers += s.FromPeers
		for _, w := range s.WebSeeds {
			i, ok := at[w.Seed]
			if !ok {
				at[w.Seed] = len(out.WebSeeds)
				out.WebSeeds = append(out.WebSeeds, w)
				continue
			}
			o := &out.WebSeeds[i]
			if o.URL != w.URL {
				o.URL = ""
			}
			o.LastResort = o.LastResort && w.LastResort
			o.Asked += w.Asked
			o.Sent += w.Sent
			o.Again += w.Again
			o.Fetching = o.Fetching || w.Fetching
			o.Answer = cmp.Or(w.Answer, o.Answer)
			o.Failed = cmp.Or(o.Failed, w.Failed)
		}
	}
	return out
}

// Since is what s's sources did after base (an earlier Sources of the
// same downloads): the bytes and requests since then; the rest as now.
// Seeds are matched through a map: what a daemon's events carry is read
// here, and a search per seed made an event of 186,000 seeds (what fits
// in one event line) cost about a minute of CPU.
func (s Sources) Since(base Sources) Sources {
	out := Sources{Peers: s.Peers, FromPeers: max(0, s.FromPeers-base.FromPeers), WebSeeds: slices.Clone(s.WebSeeds)}
	before := make(map[string]SeedActivity, len(base.WebSeeds))
	for _, b := range base.WebSeeds {
		if _, ok := before[b.Seed]; !ok {
			before[b.Seed] = b
		}
	}
	for i, w := range out.WebSeeds {
		if b, ok := before[w.Seed]; ok {
			out.WebSeeds[i].Sent = max(0, w.Sent-b.Sent)
			out.WebSeeds[i].Again = max(0, w.Again-b.Again)
			out.WebSeeds[i].Asked = max(0, w.Asked-b.Asked)
		}
	}
	return out
}

// maxSeedsSaid bounds the web seeds Describe names.
const maxSeedsSaid = 4

// Again is the bytes web seeds sent again (SeedActivity.Again), which
// are no progress: a stall's error that counts none received says "no new
// data", beside the seeds that sent them.
func (s Sources) Again() int64 {
	var n int64
	for _, w := range s.WebSeeds {
		n += w.Again
	}
	return n
}

// Describe says what each source did: "web seed http://h/packages/a.tar.zst
// answered HTTP 206 Partial Content and sent 121 B; no peer connected".
// What bytes sent again are is said once, at the first seed that sent
// any.
func (s Sources) Describe() string {
	var parts []string
	explained := false
	for i, w := range s.WebSeeds {
		if i == maxSeedsSaid {
			parts = append(parts, fmt.Sprintf("and %s", ui.Count(len(s.WebSeeds)-i, "other web seed")))
			break
		}
		parts = append(parts, w.describe(!explained))
		explained = explained || w.Sent > 0 && w.Again > 0
	}
	sent := "nothing"
	if s.FromPeers > 0 {
		sent = units.FormatBytes(s.FromPeers)
	}
	switch {
	case s.Peers == 0 && s.FromPeers == 0:
		parts = append(parts, "no peer connected")
	case s.Peers == 0:
		parts = append(parts, "peers sent "+sent+", none connected now")
	default:
		parts = append(parts, fmt.Sprintf("%s connected, which sent %s", ui.Count(s.Peers, "peer"), sent))
	}
	return strings.Join(parts, "; ")
}

// againMeans says what bytes a web seed sent again are, after the first
// figure of them in a message: of a piece cut short and asked again, or
// of one held too long and asked of the next seed too (hedge.go), whose
// bytes the two seeds' bodies both gave. It said only the first, of the
// bytes two seeds raced for (TestSlowSeedLosesPiece: the seed that won
// the piece "sent 1.0 MiB, 11.8 KiB of it again").
const againMeans = " (bytes of pieces another fetch had sent already: a piece cut short is asked again from its start, and one a seed holds too long is asked of the next seed too)"

// describe says what w did; explain: say what bytes sent again are
// (againMeans), where it sent any.
func (w SeedActivity) describe(explain bool) string {
	what := "web seed"
	if w.LastResort {
		what = "HTTP (last resort)"
	}
	what += " " + cmp.Or(w.URL, w.Seed)
	means := ""
	if explain {
		means = againMeans
	}
	sent := "nothing"
	switch {
	case w.Sent > 0 && w.Again >= w.Sent:
		sent = units.FormatBytes(w.Sent) + ", all of it again" + means
	case w.Sent > 0 && w.Again > 0:
		sent = fmt.Sprintf("%s, %s of it again%s", units.FormatBytes(w.Sent), units.FormatBytes(w.Again), means)
	case w.Sent > 0:
		sent = units.FormatBytes(w.Sent)
	}
	switch {
	case w.Fetching && w.Answer != "":
		return fmt.Sprintf("%s answered %s and sent %s", what, w.Answer, sent)
	case w.Fetching:
		return what + " was asked and has not answered"
	case w.Failed != "" && w.Sent > 0:
		return fmt.Sprintf("%s sent %s, then failed: %s", what, sent, w.Failed)
	case w.Failed != "":
		return fmt.Sprintf("%s failed: %s", what, w.Failed)
	case w.Asked == 0 && w.Sent == 0:
		return what + " was not asked"
	}
	return fmt.Sprintf("%s sent %s", what, sent)
}

// seedStat is one web seed's activity for a download (transferState's),
// guarded by its own mu, so that a fetch records what it did without
// looking its download up again (a download started anew since has
// stats of its own); reach is the download's, shared by its seeds.
type seedStat struct {
	seed  string // as WebSeedOrder gave it, password and all: the key
	reach *webReach
	mu    sync.Mutex
	act   SeedActivity // guarded by mu
	// pieceBytes and pieceTime are the bytes of pieces its bodies gave
	// and the time they took (timed, rate); guarded by mu.
	pieceBytes int64
	pieceTime  time.Duration
}

// webReach is how far into each piece web seeds' bodies came in a
// download, so that bytes sent again count as such (SeedActivity.Again):
// a body reads each piece from its start.
type webReach struct {
	mu  sync.Mutex
	end map[int64]int64 // by piece, the offset in it reached; guarded by mu
}

// fresh records the n bytes at off of a torrent of pieces of pieceLen
// that a body gave, and returns how many of them no body had before.
func (r *webReach) fresh(off, n, pieceLen int64) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.end == nil {
		r.end = map[int64]int64{}
	}
	var fresh int64
	for n > 0 && pieceLen > 0 {
		p, in := off/pieceLen, off%pieceLen
		k := min(n, pieceLen-in)
		if end := in + k; end > r.end[p] {
			fresh += end - max(in, r.end[p])
			r.end[p] = end
		}
		off, n = off+k, n-k
	}
	return fresh
}

// setSeeds records the web seeds a download of the archive name tries
// (WebSeedOrder's), adding those not seen before: a second Download of the
// torrent may have other mirrors.
func (s *transferState) setSeeds(seeds []string, name string, lastResort bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seed := range seeds {
		if !slices.ContainsFunc(s.seedStats, func(st *seedStat) bool { return st.seed == seed }) {
			s.seedStats = append(s.seedStats, &seedStat{seed: seed, reach: &s.webReach, act: SeedActivity{
				Seed: redact.URL(seed), URL: redact.URL(torrentmeta.WebSeedURL(seed, name)), LastResort: lastResort}})
		}
	}
}

// seedStat is seed's activity; nil for a seed setSeeds was not given.
func (s *transferState) seedStat(seed string) *seedStat {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.seedStats {
		if st.seed == seed {
			return st
		}
	}
	return nil
}

// asked records a request to the seed: its last failure is past.
func (st *seedStat) asked() {
	st.mu.Lock()
	st.act.Asked++
	st.act.Failed, st.act.Answer = "", ""
	st.mu.Unlock()
}

// answered records the status of the seed's reply ("HTTP 206 Partial
// Content").
func (st *seedStat) answered(status string) {
	st.mu.Lock()
	st.act.Answer = cut(status, maxSeedText)
	st.mu.Unlock()
}

// failed records how the seed's fetch failed.
func (st *seedStat) failed(err error) {
	st.mu.Lock()
	st.act.Failed = cut(err.Error(), maxSeedText)
	st.mu.Unlock()
}

// got records the n bytes at off (in the torrent, of pieces of pieceLen)
// that the seed's body gave.
func (st *seedStat) got(off, n, pieceLen int64) {
	again := n - st.reach.fresh(off, n, pieceLen)
	st.mu.Lock()
	st.act.Sent += n
	st.act.Again += again
	st.mu.Unlock()
}

// activity is what the seed did so far.
func (st *seedStat) activity() SeedActivity {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.act
}

// cut is text at most n bytes long, "..." ending one that was longer.
func cut(text string, n int) string {
	if len(text) <= n {
		return text
	}
	return strings.ToValidUTF8(text[:n-3], "") + "..."
}

// sources is the download's Sources now, with peers connected and the
// web seed fetching ("" for none).
func (s *transferState) sources(peers int, fetching string) Sources {
	out := Sources{Peers: peers, FromPeers: s.seeder.Load() + s.mirror.Load() + s.others.Load()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seedStats) > 0 {
		out.WebSeeds = make([]SeedActivity, len(s.seedStats))
	}
	for i, st := range s.seedStats {
		out.WebSeeds[i] = st.activity()
		out.WebSeeds[i].Fetching = st.seed == fetching
	}
	return out
}

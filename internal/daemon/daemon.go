// Package daemon is dist-client daemon's local socket: the daemon owns one
// BitTorrent engine that seeds the cache, and the CLI asks it to download
// archives instead of starting an engine of its own, so the two never fight
// over the peer port or the cache files, and what the CLI installs keeps
// being seeded after the CLI exits.
//
// The protocol is HTTP over a unix socket:
//
//	GET  /status    -> Status (JSON), once the cached archives are set up
//	                   for seeding; ?items=0 without the torrents, at once
//	                   (downloads are served from the start)
//	GET  /metrics   -> Prometheus metrics (text)
//	POST /download  <- Request (JSON); -> a stream of Event lines (NDJSON),
//	                   progress every ?progress_ms=N (200 to 5000; default 200)
//
// The socket is private to the daemon's user (mode 0600, and every
// connection's uid checked with SO_PEERCRED), and a request names packages
// only by name and version: the daemon looks them up in its own copy of the
// synced, signature-verified catalog and downloads that row's torrent. It
// never takes metainfo, trackers or URLs from a caller, so whoever reaches
// the socket cannot make it contact anything the publisher did not sign.
package daemon

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/distpac/distpac/internal/swarm"
)

// Item names one package version of the catalog to download.
type Item struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// InfoHash, when set, must be the catalog row's: the caller and the
	// daemon then agree on the very bytes (a sync in between may have
	// changed the catalog).
	InfoHash string `json:"infohash,omitempty"`
}

// ID is "name@version".
func (it Item) ID() string { return it.Name + "@" + it.Version }

// Request asks the daemon to download items into its cache.
type Request struct {
	Items []Item `json:"items"`
	// Keep names packages of the same install that the caller takes from
	// its cache: the daemon does not download them, and holds their
	// archives out of a cache trim (cache_max_size) with the downloaded
	// ones, which otherwise could remove one before the install extracted
	// it.
	Keep []Item `json:"keep,omitempty"`
}

// Limits on a request: it is a list of names, so these are generous.
const (
	maxRequestBytes = 1 << 20
	maxItems        = 4096
	maxFieldLen     = 256
	// requestReadTime bounds the arrival of a request's body (a list of
	// names from the same machine: milliseconds).
	requestReadTime = 10 * time.Second
)

// Limits on what the CLI reads from the daemon. The finished event of a
// download carries a report per archive (at most maxItems, each well under
// maxReportBytes: a name and version of at most 128 and 256 bytes and ten
// numbers), so one line may be megabytes: a scanner's default 64 KiB
// failed an install of about 220 archives after the daemon had downloaded
// them all. The status lists every torrent of the engine, about 300 bytes
// each; Dial asks for it without them (?items=0), so that a daemon seeding
// thousands of archives is still found.
const (
	maxReportBytes = 2 << 10
	maxEventBytes  = 64<<10 + maxItems*maxReportBytes
	maxStatusBytes = 64 << 20 // about 200,000 torrents
)

// Refusal is what a download's error said of web seeds that refused it:
// which of httpbound's errors it matched, and the URL of a 403.
type Refusal struct {
	Unauthorized bool   `json:"unauthorized,omitempty"` // httpbound.ErrUnauthorized
	Forbidden    bool   `json:"forbidden,omitempty"`    // httpbound.ErrForbidden
	NotSent      bool   `json:"not_sent,omitempty"`     // httpbound.ErrNotSent
	URL          string `json:"url,omitempty"`          // httpbound.RefusedURL of the 403
	// UnauthorizedURL is httpbound.RefusedURL of the 401: the hint tells a
	// web seed the torrent names, which gets no password, from a server of
	// the client's server_urls.
	UnauthorizedURL string `json:"unauthorized_url,omitempty"`
}

// Event is one line of a download's progress; the last has Done or Error set.
type Event struct {
	Bytes    int64  `json:"bytes"` // downloaded so far, over all items
	Total    int64  `json:"total"`
	Peers    int    `json:"peers"`
	Finished bool   `json:"finished,omitempty"`
	Error    string `json:"error,omitempty"`
	// FailedArchive, beside Error, names the archive whose download
	// failed, when one did (ArchiveError).
	FailedArchive string `json:"failed_archive,omitempty"`
	// Unauthorized, beside Error: a web seed answered the download 401
	// (not after a redirect), which the client's error matches as
	// httpbound.ErrUnauthorized, as the engine's own does: the install
	// then gives the sync's hint of where the user and password go.
	Unauthorized bool `json:"unauthorized,omitempty"`
	// Refused, beside Error: web seeds refused the download (a 401 or
	// 403), as the engine's error said: the client's error matches it as
	// that one did, so the install gives the sync's hint (serverHint), a
	// 403 and a redirect included. A daemon older than it sends
	// Unauthorized alone.
	Refused *Refusal `json:"refused,omitempty"`
	// Unreachable, beside Error: every source refused the connection
	// (swarm.ErrUnreachable), which the client's error matches as the
	// engine's does, for the install's hint (is dist-server running?).
	Unreachable bool `json:"unreachable,omitempty"`
	// Stopped, beside Error, says what each archive not complete had
	// received when the download ended: the bytes from each kind of
	// source (swarm.Engine.Stopped), for the install's transfer report
	// and history, which otherwise said only "sources unknown" of a
	// download that failed through the daemon (an operator's run).
	Stopped []Report `json:"stopped,omitempty"`
	// Completed is set on the event sent as soon as one archive is
	// complete (the client finishes staging it while the others download).
	Completed *Report `json:"completed,omitempty"`
	// Prefix gives, by archive, how many bytes from its start are in
	// complete, verified pieces, for the archives whose prefix grew by a
	// step (prefixStep) since it was last sent: the client unpacks that
	// far while the rest arrives. An event with it goes out when it grows,
	// whatever the period.
	Prefix map[string]int64 `json:"prefix,omitempty"`
	// Reports, on the finished event, say where each archive's bytes came
	// from.
	Reports []Report `json:"reports,omitempty"`
	// Busy is a web seed that a download waits for, having answered busy
	// (swarm.Progress.Busy): sent once per seed and request, so that the
	// client can say why nothing arrives.
	Busy *swarm.BusySeed `json:"busy,omitempty"`
	// Sources is what the request's peers and web seeds sent so far
	// (swarm.MergeSources of its downloads'): the install's stall
	// watchdog counts their bytes, and its error names them, as it does
	// without a daemon. A daemon older than it sends none.
	Sources *swarm.Sources `json:"sources,omitempty"`
}

// ArchiveError is a download that failed with the archive it failed on:
// an install of several packages names the others as not installed from
// it. The error crossed the daemon's socket as text only, and the install
// blamed the archive it happened to be waiting for (a newcomer's run:
// libgreet's download failed while hello's was awaited, and the error
// named libgreet and then hello as "not installed either"). Error is
// Err's text.
type ArchiveError struct {
	Archive string
	Err     error
}

func (e *ArchiveError) Error() string { return e.Err.Error() }
func (e *ArchiveError) Unwrap() error { return e.Err }

// Report is one archive's transfer report.
type Report struct {
	Archive  string `json:"archive"`
	InfoHash string `json:"infohash"`
	swarm.Transfer
}

// progressEvery is how often a download's progress is sent, unless the
// caller asks for less often (POST /download?progress_ms=N, at most
// maxProgressEvery): an install that draws no bar (no terminal, -q, NO_COLOR)
// needs progress only for its stall watchdog, and each event woke the
// daemon and the install, five times a second for every install under way.
const (
	progressEvery    = 200 * time.Millisecond
	maxProgressEvery = 5 * time.Second
)

// prefixStep is how much an archive's complete prefix grows before it is
// sent (Event.Prefix): a 32nd of the archive, at least 256 KiB, so that an
// archive's download sends about 32 such events whatever its size (the
// engine reports every 200 ms).
func prefixStep(size int64) int64 { return max(size/32, 256<<10) }

// progressPeriod reads the progress_ms query parameter of a download
// request: absent or 0 is progressEvery; the result is kept within
// progressEvery..maxProgressEvery.
func progressPeriod(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("progress_ms")
	if v == "" {
		return progressEvery, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64) // not Atoi: a 32-bit int would refuse what 64 bits clamp
	if err != nil || ms < 0 {
		return 0, fmt.Errorf("bad request: progress_ms %.20q is not a number of milliseconds", v)
	}
	if ms == 0 {
		return progressEvery, nil
	}
	ms = min(ms, int64(maxProgressEvery/time.Millisecond)) // before multiplying: no overflow
	return max(time.Duration(ms)*time.Millisecond, progressEvery), nil
}

// Status describes the running daemon.
type Status struct {
	PID        int   `json:"pid"`
	Port       int   `json:"port"`
	Torrents   int   `json:"torrents"`
	Peers      int   `json:"peers"`
	Uploaded   int64 `json:"uploaded_bytes"`
	Downloaded int64 `json:"downloaded_bytes"`
	// Listen is the peer address the engine is bound to.
	Listen string `json:"listen,omitempty"`
	// Seed is the seeding policy (client.yaml seed).
	Seed string `json:"seed,omitempty"`
	// Started is when the daemon started.
	Started time.Time `json:"started,omitzero"`
	// Each torrent of the engine.
	Items []swarm.TorrentStatus `json:"items,omitempty"`
	// PublisherQueue is the deepest request queue kept at a publisher
	// (swarm.Stats); bench-net shows it.
	PublisherQueue int `json:"publisher_queue,omitempty"`
}

package tracker

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	alog "github.com/anacrolix/log"
	"github.com/anacrolix/torrent/bencode"
	httpTrackerServer "github.com/anacrolix/torrent/tracker/http/server"
	trackerServer "github.com/anacrolix/torrent/tracker/server"
	"github.com/anacrolix/torrent/tracker/udp"

	"github.com/distpac/distpac/internal/trackerclient"
)

// Handler serves GET /announce and GET /scrape; every other path is a
// 404 with a bencoded failure reason (notTracked).
func (t *Tracker) Handler() http.Handler { return t.handler }

func (t *Tracker) newHandler() http.Handler {
	lib := httpTrackerServer.Handler{
		Announce: &trackerServer.AnnounceHandler{AnnounceTracker: t},
		// The library's default (RemoteAddr) is what we want, but unmapped:
		// see unmap. The "ip" query parameter is deliberately not trusted.
		RequestHost: func(r *http.Request) (netip.Addr, error) {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				return netip.Addr{}, err
			}
			a, err := netip.ParseAddr(host)
			return a.Unmap(), err
		},
	}
	mux := http.NewServeMux()
	mux.Handle("GET /announce", announceHandler{lib: lib})
	mux.HandleFunc("GET /scrape", t.serveScrape)
	mux.HandleFunc("GET /", notTracked)
	return mux
}

// reasonNotTracked is the failure reason of a path the tracker does not
// serve.
const reasonNotTracked = "not found: this is a BitTorrent tracker, which answers GET /announce and /scrape"

// notTracked answers a path the tracker does not serve 404, with a
// failure reason as a tracker's answers carry one (BEP 3), so that a
// client given the tracker's port as its server_url can tell a tracker
// answered (catalogclient): Go's "404 page not found" was any web server's,
// and the sync said only that the URL must be the base one (a newcomer's
// run).
func notTracked(w http.ResponseWriter, _ *http.Request) {
	body, _ := bencode.Marshal(map[string]string{"failure reason": reasonNotTracked})
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write(body)
}

// announceState carries what the anacrolix handler has no room for between
// our wrapper and the AnnounceTracker methods it calls: the client's numwant
// (the handler ignores it) and a refusal to report as a failure reason (the
// handler would answer an error with HTTP 500, which clients cannot show).
type announceState struct {
	numWant uint
	refusal error
	// starting: the tracker does not know yet whether it serves the
	// torrent (errStarting); the reply has no peers and a short interval.
	starting bool
}

type stateKey struct{}

func stateFrom(ctx context.Context) *announceState {
	st, _ := ctx.Value(stateKey{}).(*announceState)
	return st
}

type announceHandler struct {
	lib httpTrackerServer.Handler
}

func (h announceHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &announceState{numWant: DefaultNumWant}
	// The library parses the port with its error ignored, and a number over
	// 65535 saturates: port=99999 was recorded as 65535. It also reads a
	// leading 0 as octal: port=010 was recorded as 8, and port=0080 as no
	// port. A port is decimal digits as a number prints.
	if p := r.URL.Query().Get("port"); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || strconv.FormatUint(n, 10) != p {
			writeFailure(w, fmt.Sprintf("port %.20q is not a port number (0-65535)", p))
			return
		}
	}
	if n, err := strconv.ParseUint(r.URL.Query().Get("numwant"), 10, 32); err == nil {
		st.numWant = uint(min(n, maxNumWant))
	}
	rw := &refusalWriter{ResponseWriter: w, st: st}
	h.lib.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
	rw.finish()
}

// refusalWriter replaces the library's reply with a bencoded failure reason
// when TrackAnnounce refused the announce. The refusal is always recorded
// before the library writes anything, so the first write decides. A
// successful reply is held back for finish, which cleans it.
type refusalWriter struct {
	http.ResponseWriter
	st       *announceState
	decided  bool
	replaced bool
	status   int          // what the library set; 0 means an implicit 200
	body     bytes.Buffer // a successful reply, or the text of a 400, sent by finish
}

func (w *refusalWriter) decide() bool {
	if !w.decided {
		w.decided = true
		if w.st.refusal != nil {
			w.replaced = true
			writeFailure(w.ResponseWriter, w.st.refusal.Error())
		}
	}
	return w.replaced
}

func (w *refusalWriter) WriteHeader(code int) {
	if w.decide() {
		return
	}
	w.status = code
	if code != http.StatusOK && code != http.StatusBadRequest {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *refusalWriter) Write(b []byte) (int, error) {
	if w.decide() {
		return len(b), nil
	}
	if w.status == 0 || w.status == http.StatusOK || w.status == http.StatusBadRequest {
		if w.status == http.StatusBadRequest && w.body.Len()+len(b) > maxReason {
			return len(b), nil // the library's reasons are a line
		}
		return w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// maxReason bounds the text of a 400 the library answers kept for its
// failure reason.
const maxReason = 256

// finish sends the held-back successful reply without the empty "failure
// reason" (and "tracker id") that the library always encodes: BEP 3 says a
// reply with a failure reason has no other keys, and clients such as aria2
// take its mere presence as a failed announce.
//
// A request the library refuses as malformed (an info_hash or peer_id not
// 20 bytes long, an unknown event) it answers with HTTP 400 and a line of
// text, which clients show as an HTTP error at best: that line becomes the
// failure reason instead, as every other refusal is.
func (w *refusalWriter) finish() {
	if w.replaced {
		return
	}
	if w.status == http.StatusBadRequest {
		writeFailure(w.ResponseWriter, strings.TrimSpace(w.body.String()))
		return
	}
	if w.body.Len() == 0 {
		return
	}
	var minInterval time.Duration
	if w.st.starting {
		minInterval = StartingInterval
	}
	_, _ = w.ResponseWriter.Write(cleanReply(w.body.Bytes(), minInterval))
}

// cleanReply drops the empty-string "failure reason" and "tracker id"
// from a bencoded dictionary, and adds "min interval" when minInterval is
// not 0 (the library has no field for it: a starting tracker's answer,
// which the announcer may not cut shorter); anything it cannot parse is
// returned as is.
func cleanReply(body []byte, minInterval time.Duration) []byte {
	var m map[string]bencode.Bytes
	if err := bencode.Unmarshal(body, &m); err != nil {
		return body
	}
	for _, k := range []string{"failure reason", "tracker id"} {
		if string(m[k]) == "0:" {
			delete(m, k)
		}
	}
	if minInterval > 0 {
		m["min interval"] = bencode.Bytes(fmt.Sprintf("i%de", minInterval/time.Second))
	}
	out, err := bencode.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

func writeFailure(w http.ResponseWriter, reason string) {
	body, _ := bencode.Marshal(map[string]string{"failure reason": reason})
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK) // BEP 3: failures are 200 with a failure reason
	_, _ = w.Write(body)
}

// MaxScrapeHashes is the most info_hash parameters one scrape may name
// (trackerclient.MaxScrapeHashes, opentracker's limit): each costs the
// asker 30-70 bytes of URL and the tracker about 70 bytes of reply.
const MaxScrapeHashes = trackerclient.MaxScrapeHashes

// Scrape refusals, sent as a BEP 48 failure reason.
const (
	reasonFullScrape = "full scrape is not served: name the torrents with info_hash (BEP 48)"
	reasonTooMany    = "scrape of %d info_hash values: at most %d a request"
)

// serveScrape answers a BEP 48 scrape of at most MaxScrapeHashes torrents.
// A scrape without info_hash (a "full scrape", outside BEP 48) is refused:
// it answered every torrent tracked, 108 KB for 1,548 torrents and about
// 700 KB at MaxTorrents, to a 66-byte request, and nothing of distpac's
// asks for it (dist-server status and /metrics read the tracker directly;
// dry runs name their archives).
func (t *Tracker) serveScrape(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query()["info_hash"]
	switch {
	case len(raw) == 0:
		writeFailure(w, reasonFullScrape)
		return
	case len(raw) > MaxScrapeHashes:
		writeFailure(w, fmt.Sprintf(reasonTooMany, len(raw), MaxScrapeHashes))
		return
	}
	ihs := make([]trackerServer.InfoHash, 0, len(raw))
	for _, s := range raw {
		if len(s) != 20 {
			writeFailure(w, fmt.Sprintf("info_hash %.20q is not 20 bytes", s))
			return
		}
		if ih := trackerServer.InfoHash([]byte(s)); t.Served(ih) {
			ihs = append(ihs, ih)
		}
	}
	res, _ := t.Scrape(r.Context(), ihs)
	files := make(map[string]udp.ScrapeInfohashResult, len(ihs))
	for i, ih := range ihs {
		files[string(ih[:])] = res[i]
	}
	body, err := bencode.Marshal(map[string]any{"files": files})
	if err != nil {
		http.Error(w, "encode scrape: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(body)
}

// QuietLibraryLogs discards what anacrolix/torrent's tracker code prints
// through anacrolix/log's global Default logger (it writes to stderr, for
// example "error encoding and writing response body" when a client hangs up).
// That logger is process-wide and unsynchronised, so call this once at start,
// before any tracker or torrent client runs; a program that routes anacrolix
// logs elsewhere should set log.Default's handlers itself instead.
func QuietLibraryLogs() {
	alog.Default.SetHandlers(alog.DiscardHandler)
}

func hexHash(ih [20]byte) string { return hex.EncodeToString(ih[:]) }

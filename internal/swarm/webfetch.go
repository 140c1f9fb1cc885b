package swarm

// Fetching a web seed's missing pieces over HTTP: one range request per
// span, checked, bounded in time and rate (webbody.go), each piece handed to the library
// to verify (webseed.go decides when and from which seed).

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/distpac/distpac/internal/httpbound"
	"github.com/distpac/distpac/internal/redact"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// fetchWebSeed fetches the pieces of t that are still missing from the
// web seed of f (a hedge's one piece only). It returns nil once it has
// handed every such piece to the library, or the first failure.
func (e *Engine) fetchWebSeed(ctx context.Context, t *torrent.Torrent, f *webFetch) error {
	info := t.Info()
	if info == nil {
		return errors.New("torrent has no info yet")
	}
	u := torrentmeta.WebSeedURL(f.seed, info.Name)
	perSpan := max(1, int(webSeedSpan/info.PieceLength))
	complete := func(i int) bool { return t.Piece(i).State().Complete }
	var stat *seedStat // what the seed did, for the download's Sources
	if xfer := e.lastTransfer(t.InfoHash()); xfer != nil {
		stat = xfer.seedStat(f.seed)
	}
	var spans []span
	switch {
	case f.only < 0:
		spans = missingSpans(complete, info.NumPieces(), perSpan)
	case f.only < info.NumPieces() && !complete(f.only):
		spans = []span{{f.only, f.only + 1}}
	}
	for _, s := range spans {
		whole, err := e.fetchSpan(ctx, t, info, u, s, f, stat)
		if err != nil {
			// *url.Error repeats the method and URL in its own words
			// (web seed http://h/x: Get "http://h/x": dial tcp ...).
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			if stat != nil && failure(ctx) {
				stat.failed(err)
			}
			return fmt.Errorf("%s %s: %w", f.label, redact.URL(u), err)
		}
		if whole {
			break // the server sent the whole file, and every piece was taken from it
		}
	}
	return nil
}

// fetchSpan asks for the pieces of s, for the fetch f (f.hold: the
// piece it reads). A server that ignores the range and sends the whole
// file (whole is then true) gives every missing piece in that one
// response (a hedge's, those up to its piece). stat (may be nil) records the request, the answer, the bytes
// and how long each piece took.
func (e *Engine) fetchSpan(ctx context.Context, t *torrent.Torrent, info *metainfo.Info, u string, s span, f *webFetch, stat *seedStat) (whole bool, err error) {
	start := info.Piece(s.first).Offset()
	last := info.Piece(s.end - 1)
	end := last.Offset() + last.Length() // exclusive
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end-1))
	if stat != nil {
		stat.asked()
	}
	// The headers within webSeedHeaders, redirects included (httpbound).
	resp, err := httpbound.Do(e.http, req, webSeedHeaders)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if stat != nil {
		// Go's text for the code: the server's reason phrase is its own.
		stat.answered(fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
	}
	silent := &webSeedSilent{webSeedIdle}
	if f.floor {
		silent.idle = webSeedSlowAfter
	}
	idle := time.AfterFunc(silent.idle, func() { cancel(silent) })
	defer idle.Stop()
	body := &webSeedReader{ctx: ctx, r: resp.Body, idle: idle, idleFor: silent.idle, limit: e.down}
	if x := e.lastTransfer(t.InfoHash()); x != nil {
		body.readNS = &x.webReadNS
	}
	body.stat, body.pieceLen = stat, info.PieceLength
	if f.floor {
		body.slowAfter, body.minRate = webSeedSlowAfter, webSeedMinRate
	}
	// A read the idle timer cut short fails with the silence, and one
	// that another source beat to its piece (hedge.go) with that, not
	// with the bare "piece 0: context canceled" of the request's context.
	defer func() {
		var out *webSeedOutpaced
		switch {
		case err == nil:
		case context.Cause(ctx) == silent:
			err = silent
		case errors.As(context.Cause(ctx), &out):
			err = out
		}
	}()
	first, stop := s.first, s.end
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if err := checkContentRange(resp.Header.Get("Content-Range"), start, end, info.Length); err != nil {
			return false, err
		}
	case http.StatusOK:
		if resp.ContentLength >= 0 && resp.ContentLength != info.Length {
			return false, fmt.Errorf("sent %d bytes for a %d-byte file", resp.ContentLength, info.Length)
		}
		first, stop, whole = 0, info.NumPieces(), true
		if f.only >= 0 {
			// A hedge wants its one piece: it takes the pieces before it
			// as they come (as a fetch of every missing piece would) and
			// stops after it. Read to the end, a hedge for piece 2 wrote
			// all 16 pieces of a 1 MiB archive, racing the fetch it
			// hedges for the rest of the file.
			stop = f.only + 1
		}
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		if resp.Header.Get(torrentmeta.HeaderWithheld) != "" {
			return false, fmt.Errorf("HTTP %d %s: %w", resp.StatusCode, http.StatusText(resp.StatusCode), errCopyWithheld)
		}
		now := time.Now()
		wait, _ := BusyAnswer(resp, now)
		err := &webStatusError{code: resp.StatusCode, notSent: httpbound.NotSent(resp), retryAfter: wait}
		if wait > 0 {
			err.retryAt = now.Add(wait)
		}
		return false, err
	default:
		return false, &webStatusError{code: resp.StatusCode, notSent: httpbound.NotSent(resp)}
	}
	body.off = info.Piece(first).Offset()
	host := resp.Request.URL.Host // after redirects: the server that sent the pieces
	// At most the file: a piece length the catalog check bounds (64 MiB)
	// need not be allocated whole for a small archive.
	buf := make([]byte, min(info.PieceLength, info.Length))
	for i := first; i < stop; i++ {
		p := info.Piece(i)
		b := buf[:p.Length()]
		// Held from its first byte to its last (hedge.go); written only
		// whole and matching its hash: a fetch cut halfway writes nothing.
		t0 := time.Now()
		f.hold.set(i, t0)
		n, err := io.ReadFull(body, b)
		f.hold.clear()
		if stat != nil {
			stat.timed(int64(n), time.Since(t0))
		}
		if err != nil {
			return whole, fmt.Errorf("piece %d: %w", i, err)
		}
		tp := t.Piece(i)
		if tp.State().Complete {
			continue // not missing, or a peer brought it meanwhile
		}
		if want := p.V1Hash().Unwrap(); sha1.Sum(b) != want {
			if s := e.lastTransfer(t.InfoHash()); s != nil {
				s.webSeedBad(u, host) // a damaged copy fails every round: DamagedError
			}
			return whole, fmt.Errorf("piece %d %w", i, errPieceMismatch)
		}
		if err := e.files.writeAt(t.InfoHash(), b, p.Offset()); err != nil {
			return whole, fmt.Errorf("piece %d: %w", i, err)
		}
		e.webBytes.Add(int64(len(b)))
		if x := e.lastTransfer(t.InfoHash()); x != nil {
			x.web.Add(int64(len(b)))
			x.webSeedSent(host)
			x.firstNS.CompareAndSwap(0, time.Now().UnixNano()) // a download the web seed alone served had a first byte too
		}
		if err := tp.VerifyDataContext(ctx); err != nil {
			return whole, fmt.Errorf("piece %d: %w", i, err)
		}
		f.wroteAt.Store(time.Now().UnixNano())
	}
	return whole, nil
}

// webStatusError is a web seed's answer other than 200, 206 or a
// withheld copy's 503: a 401 or 403 is a refusal that dist-client's
// hint explains (NoSourceError's Is and RefusedURL), and a reply after a redirect to
// another origin came without the user and password (notSent,
// httpbound.NotSent). A 503 or 429 with a Retry-After (dist-server's
// catalog listener with every descriptor in use asks for 10 s,
// connlimit) says when to ask that seed again: retryAt, retryAfter from
// the answer (both zero without one).
type webStatusError struct {
	code       int
	notSent    error
	retryAfter time.Duration
	retryAt    time.Time
}

// Error gives the code and Go's text for it: the reason phrase is the
// server's and reaches the user's terminal (escape sequences included).
func (e *webStatusError) Error() string {
	msg := fmt.Sprintf("HTTP %d %s", e.code, http.StatusText(e.code))
	if e.retryAfter > 0 {
		msg += fmt.Sprintf(" (busy: asked to retry after %s)", e.retryAfter)
	}
	if e.notSent != nil {
		msg += " (" + e.notSent.Error() + ")"
	}
	return msg
}

// BusyAnswer says whether resp is a web seed's busy answer, which a
// download waits out (at most DefaultBusyWait, the seed counting as a
// source meanwhile) rather than take for a failure: a 503 or a 429 with a
// Retry-After (of at most maxRetryAfter from now), not one that withholds
// a damaged copy (torrentmeta.HeaderWithheld). wait is the Retry-After.
func BusyAnswer(resp *http.Response, now time.Time) (wait time.Duration, busy bool) {
	switch resp.StatusCode {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
	default:
		return 0, false
	}
	if resp.Header.Get(torrentmeta.HeaderWithheld) != "" {
		return 0, false
	}
	wait = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	return wait, wait > 0
}

// maxRetryAfter bounds the wait a web seed's Retry-After may ask for:
// dist-server asks for 10 s; an hour (a proxy's maintenance page) would
// hold the seed's turn past an install's stall timeout (2 minutes).
const maxRetryAfter = 60 * time.Second

// parseRetryAfter reads a Retry-After header (RFC 9110 §10.2.3:
// delay-seconds or an HTTP-date) as the wait from now, at most
// maxRetryAfter; 0 for none, a value that is neither, or a date past.
func parseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseUint(h, 10, 64); err == nil {
		d = time.Duration(min(n, uint64(maxRetryAfter/time.Second))) * time.Second
	} else if at, err := http.ParseTime(h); err == nil {
		d = at.Sub(now)
	} else {
		return 0
	}
	return max(0, min(d, maxRetryAfter))
}

func (e *webStatusError) Unwrap() error { return e.notSent }

// errCopyWithheld: the web seed's server holds the archive but will not
// send it, as its copy no longer matches the torrent
// (torrentmeta.HeaderWithheld).
var errCopyWithheld = errors.New("the server withholds its copy of the archive, which no longer matches the torrent")

// errPieceMismatch is a web seed's piece that failed its hash: the
// server has the archive, and its copy is damaged (NoSourceError's hint).
var errPieceMismatch = errors.New("does not match its hash")

// checkContentRange checks a 206 answer's "bytes START-END/TOTAL" (RFC
// 9110 §14.4) against the range asked for ([start, end)) and the file's
// length; TOTAL may be "*".
func checkContentRange(h string, start, end, length int64) error {
	r := fmt.Sprintf("bytes %d-%d/", start, end-1)
	if h != r+fmt.Sprint(length) && h != r+"*" {
		return fmt.Errorf("Content-Range %q, asked for bytes %d-%d of %d", h, start, end-1, length)
	}
	return nil
}

// webSeedHeaders bounds the wait for a web seed's reply headers over its
// redirects (at most httpbound.MaxRedirects): a connect and a reply, as
// one request has them.
const webSeedHeaders = 10 * time.Second

// webSeedClient is the HTTP client for web seeds: proxies from the
// environment as usual; a server that does not accept a connection within
// 5 s or start answering 5 s after it counts as failed, so the next seed
// gets its turn (a static server answers a range request from disk, a CDN
// from its origin, well within that); the body may then take as long as
// it takes, as long as it never stops for webSeedIdle.
func webSeedClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = 5 * time.Second
	return &http.Client{Transport: tr, CheckRedirect: httpbound.CheckRedirect}
}

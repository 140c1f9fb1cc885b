package catalogclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/distpac/distpac/internal/httpbound"
	"github.com/distpac/distpac/internal/redact"
)

// Per-server timeouts. A server that is down must cost seconds, so that
// the next of server_urls gets its turn: a refused connection fails at
// once; a host that drops the SYN costs dialTimeout; a server (or a proxy
// in front of a dead one) that accepts and never answers costs
// replyTimeout (a catalog server answers from memory in a millisecond, a
// static server or CDN from disk or its origin well within a second); a
// body that stops flowing costs bodyIdle, and one that trickles in under
// bodyMinRate on average is given up after bodySlowAfter. The transfer
// itself has no fixed deadline (the context bounds it): a large catalog on
// a slow link must not fail on one (720 KB, a thousand packages, takes
// three minutes at bodyMinRate).
//
// While another server is left to try, a catalog download that after
// hurryAfter is on course to take over hurryLimit in all (by its
// Content-Length, or a guess without one, and the rate so far) is set
// aside (errSlow) for the next
// server, and tried again, waited for, only if no other server gives a
// catalog. A server that sent a 256 MiB Content-Length and 6 KB/s held a
// sync for hours, the mirror next in server_urls untried.
//
// From the last server the same check gives up at catalogTimeLimit: a
// server that claimed 50 MiB and sent 5 KB/s, over bodyMinRate, held a
// sync, and the client's lock every install waits for, for hours (an
// attacker's run; the worst case was 256 MiB at 4 KiB/s, 18 hours). A
// thousand packages (720 KB) take 20 minutes at 600 bytes/s.
const (
	dialTimeout      = 5 * time.Second
	replyTimeout     = 5 * time.Second
	bodyIdle         = 10 * time.Second
	bodySlowAfter    = 30 * time.Second
	bodyMinRate      = 4 << 10 // bytes/s
	hurryAfter       = 5 * time.Second
	hurryLimit       = time.Minute
	catalogTimeLimit = 20 * time.Minute
)

// DefaultHTTPClient bounds connecting and waiting for the first byte of
// the reply (see dialTimeout); bodies are bounded by bodyIdle as read. An
// answer that is not HTTP fails at its first bytes (httpConn).
func DefaultHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Client{CheckRedirect: httpbound.CheckRedirect, Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &httpConn{Conn: c}, nil
		},
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: replyTimeout,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}}
}

// get sends a GET, with If-None-Match when etag is not empty. The reply's
// headers must come within headersWithin of the request, redirects
// included (httpbound.Do; DefaultHTTPClient follows at most
// httpbound.MaxRedirects).
//
// p is the path on the server (PathCatalog, ...); the URL requested holds
// the base URL's user and password, which Go's client sends as basic
// auth, and the errors name it masked (syncer.url).
func (s *syncer) get(ctx context.Context, p, etag string) (*http.Response, error) {
	u := s.url(p)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.target(p), nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := httpbound.Do(s.client, req, headersWithin)
	if err != nil {
		// *url.Error repeats the method and URL in its own words; the URL
		// it names is the last of a redirect chain, its password masked
		// as "***" (its own way): masked alike, the first URL is not taken
		// for a redirect to itself.
		where := u
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
			if last := redact.URL(ue.URL); last != u {
				where = u + " (redirected to " + last + ")"
			}
		}
		var notHTTP *notHTTPError
		if errors.As(err, &notHTTP) && where == u {
			// Not Go's "net/http: HTTP/1.x transport connection
			// broken": the server, not the path, is what is wrong.
			return nil, fmt.Errorf("%s %w", s.server(), notHTTP)
		}
		if errors.As(err, &notHTTP) {
			err = notHTTP
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %s: %w", replyTimeout, err)
		}
		return nil, fmt.Errorf("GET %s: %w", where, err)
	}
	resp.Body = newIdleBody(resp.Body, bodyIdle, bodySlowAfter, bodyMinRate)
	return resp, nil
}

// headersWithin bounds the wait for a reply's headers over a redirect
// chain: a connect and a reply, as one request has them.
const headersWithin = dialTimeout + replyTimeout

// errIdle: a body stopped flowing for bodyIdle.
var errIdle = fmt.Errorf("the server sent nothing for %s", bodyIdle)

// idleBody fails a read that waits longer than idle for a byte, and one
// that finds the body, after slowAfter, arriving under minRate bytes/s on
// average: a server that sends its headers and then stalls, or drips a
// byte every few seconds (each one restarting the idle timer: a catalog
// of 28 KB took 64 hours), costs seconds, not forever, and the next of
// server_urls gets its turn.
type idleBody struct {
	rc        io.ReadCloser
	idle      time.Duration
	slowAfter time.Duration
	minRate   float64
	start     time.Time
	n         int64
	timer     *time.Timer
	fired     atomic.Bool
}

func newIdleBody(rc io.ReadCloser, idle, slowAfter time.Duration, minRate float64) *idleBody {
	b := &idleBody{rc: rc, idle: idle, slowAfter: slowAfter, minRate: minRate, start: time.Now()}
	// Closing the body makes a blocked Read return at once.
	b.timer = time.AfterFunc(idle, func() { b.fired.Store(true); rc.Close() })
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if b.fired.Load() {
		return n, errIdle
	}
	b.n += int64(n)
	if d := time.Since(b.start); d > b.slowAfter && float64(b.n) < b.minRate*d.Seconds() {
		b.Close()
		return n, fmt.Errorf("the server sent %d bytes in %s, under %.0f KiB/s", b.n, d.Round(time.Second), b.minRate/1024)
	}
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.rc.Close()
}

// errSlow: a catalog download on course to take longer than hurryLimit
// while another server is left to try (see hurryAfter).
var errSlow = errors.New("too slow while another server is left to try")

// errTooSlow: a catalog download on course to take longer than
// catalogTimeLimit, from the last server to try.
var errTooSlow = fmt.Errorf("over the %s a catalog may take", catalogTimeLimit)

// hurriedBody gives up a body of total bytes (-1: unknown, a chunked or
// compressed reply) that, hurryAfter after start, is on course to take
// longer than limit, with an error that wraps slow. An unknown length is
// taken as hurryGuess, and a body past its length (or the guess) as ending
// now, so that one is given up at limit: omitting Content-Length buys a
// server no more time.
type hurriedBody struct {
	r     io.Reader
	total int64
	start time.Time
	limit time.Duration
	slow  error
	n     int64
}

// hurryGuess is the size assumed of a catalog sent without its length:
// a thousand packages make 720 KB.
const hurryGuess = 1 << 20

func (b *hurriedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if d := time.Since(b.start); d > hurryAfter && err == nil && (b.total < 0 || b.n < b.total) {
		total := b.total
		if total < 0 {
			total = hurryGuess
		}
		if eta := time.Duration(float64(d) * float64(max(total, b.n)) / float64(max(b.n, 1))); eta > b.limit {
			if b.total < 0 {
				return n, fmt.Errorf("sent without a length, taken as %d bytes: at this rate it takes about %s: %w", max(total, b.n), eta.Round(time.Second), b.slow)
			}
			return n, fmt.Errorf("at this rate the %d bytes take about %s: %w", total, eta.Round(time.Second), b.slow)
		}
	}
	return n, err
}

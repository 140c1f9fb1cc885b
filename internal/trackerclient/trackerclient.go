// Package trackerclient is the client side of the HTTP BitTorrent tracker
// protocol: announce (BEP 3, compact peers per BEP 23, peers6 per BEP 7)
// and scrape (BEP 48). It is the pair of internal/tracker, and every node
// announces through it: the BitTorrent library's own tracker client is
// switched off, because a 27-byte reply crashed it (an unchecked type
// assertion) and it read replies without a size bound.
//
// Everything from a tracker is an attacker's until checked: a reply is read
// up to MaxReplySize bytes, decoded by a scanner that bounds nesting and
// checks the type of every field it keeps, and a bad reply is an error
// naming the tracker and what is wrong, which the caller treats as a failed
// announce. At most MaxPeers peers are taken from one reply.
package trackerclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/distpac/distpac/internal/redact"
)

// Limits on what a tracker may send.
const (
	// MaxReplySize bounds a reply body. A compact reply of 200 peers is
	// 1.2 KB; a dictionary-model one about 60 bytes a peer.
	MaxReplySize = 1 << 20
	// MaxPeers bounds the peers taken from one reply (the embedded tracker
	// sends at most 200, opentracker at most 200 by default).
	MaxPeers = 200
	// MinInterval is the shortest re-announce interval honoured, whatever
	// the tracker says.
	MinInterval = 10 * time.Second
	// MaxInterval is the longest.
	MaxInterval = time.Hour
)

// Event is an announce's event parameter.
type Event string

// Announce events (BEP 3); the zero value is a regular announce.
const (
	None      Event = ""
	Started   Event = "started"
	Completed Event = "completed"
	Stopped   Event = "stopped"
)

// Request is one announce.
type Request struct {
	InfoHash   [20]byte
	PeerID     [20]byte
	Port       uint16
	Uploaded   int64
	Downloaded int64
	Left       int64
	Event      Event
	// NumWant is how many peers to ask for; 0 asks for none (a seeder's
	// re-announce), negative leaves it to the tracker.
	NumWant int
}

// Response is a decoded announce reply.
type Response struct {
	// Interval is the tracker's re-announce interval, clamped to
	// [MinInterval, MaxInterval]; MinInterval when the reply has none.
	Interval time.Duration
	// Seeders and Leechers are the tracker's counts (-1 when not sent).
	Seeders, Leechers int
	// Peers are the usable peer addresses, at most MaxPeers, without
	// duplicates, port 0 or addresses no peer can have.
	Peers []netip.AddrPort
	// Warning is the tracker's "warning message", if any.
	Warning string
}

// ReasonNotServed is the failure reason the embedded tracker gives for a
// torrent it does not serve: not in its catalog, which for a client that
// took it from an older catalog means the package was withdrawn.
const ReasonNotServed = "torrent is not served by this tracker"

// FailureError is a tracker's refusal ("failure reason").
type FailureError struct{ Reason string }

func (e *FailureError) Error() string { return "refused: " + strconv.Quote(e.Reason) }

// NotServed reports whether the tracker refused because it does not serve
// the torrent.
func (e *FailureError) NotServed() bool { return e.Reason == ReasonNotServed }

// Client announces to HTTP trackers. The zero value is usable.
type Client struct {
	// HTTP is the client used; nil means one with the timeouts below.
	HTTP *http.Client
	// UserAgent is sent with every request.
	UserAgent string
}

// Timeouts of the default HTTP client: a tracker that refuses or does not
// answer costs seconds, not the library's minutes. A tracker answers an
// announce from memory (the embedded one in 0.2 ms, opentracker likewise),
// so a reply that has not started 5 s after the connection is not coming:
// with a dead first tracker in the announce-list, the next tier is asked
// after at most 5 s, well within the 10 s a download waits for any source
// (swarm.DefaultGiveUpAfter).
const (
	dialTimeout    = 5 * time.Second
	headerTimeout  = 5 * time.Second
	requestTimeout = 15 * time.Second
)

// NewHTTPClient returns an HTTP client for trackers that connects from
// localIP when it is valid (so that a tracker sees the address this node
// listens on), with bounded timeouts and at most three redirects to http
// or https URLs.
func NewHTTPClient(localIP netip.Addr) *http.Client {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	if localIP.IsValid() && !localIP.IsUnspecified() {
		d.LocalAddr = &net.TCPAddr{IP: localIP.AsSlice()}
	}
	return &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			Proxy:                 nil, // trackers are reached directly: they identify peers by source address
			DialContext:           d.DialContext,
			ResponseHeaderTimeout: headerTimeout,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("more than 3 redirects")
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to %s", req.URL.Scheme)
			}
			return nil
		},
	}
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return NewHTTPClient(netip.Addr{})
}

// Announce sends req to the tracker at announceURL.
func (c *Client) Announce(ctx context.Context, announceURL string, req Request) (Response, error) {
	u, err := url.Parse(announceURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Response{}, fmt.Errorf("tracker %q: not an http(s) URL", redact.URL(announceURL))
	}
	q := u.Query()
	q.Set("info_hash", string(req.InfoHash[:]))
	q.Set("peer_id", string(req.PeerID[:]))
	q.Set("port", strconv.Itoa(int(req.Port)))
	q.Set("uploaded", strconv.FormatInt(max(0, req.Uploaded), 10))
	q.Set("downloaded", strconv.FormatInt(max(0, req.Downloaded), 10))
	q.Set("left", strconv.FormatInt(max(0, req.Left), 10))
	q.Set("compact", "1")
	if req.Event != None {
		q.Set("event", string(req.Event))
	}
	if req.NumWant >= 0 {
		q.Set("numwant", strconv.Itoa(req.NumWant))
	}
	u.RawQuery = q.Encode()
	body, err := c.get(ctx, u.String())
	if err != nil {
		return Response{}, fmt.Errorf("tracker %s: %w", redact.URL(announceURL), err)
	}
	res, err := ParseAnnounce(body)
	if err != nil {
		return Response{}, fmt.Errorf("tracker %s: %w", redact.URL(announceURL), err)
	}
	return res, nil
}

// withoutSource drops the local address from a dial error. A client bound
// to the address it listens on (NewHTTPClient) said "dial tcp
// 127.0.0.1:0->127.0.0.1:6969: connect: connection refused": the port 0
// the kernel was asked for tells a user nothing, the tracker and the
// cause do (and the catalog sync words it the same way).
func withoutSource(err error) error {
	oe, ok := err.(*net.OpError)
	if !ok || oe.Source == nil {
		return err
	}
	c := *oe
	c.Source = nil
	return &c
}

// get fetches a tracker URL's body, at most MaxReplySize bytes.
func (c *Client) get(ctx context.Context, target string) ([]byte, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	if c.UserAgent != "" {
		hr.Header.Set("User-Agent", c.UserAgent)
	}
	resp, err := c.http().Do(hr)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is named by the caller, without the query
		}
		return nil, withoutSource(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode)) // not the tracker's own reason phrase: it reaches terminals
	}
	if resp.ContentLength > MaxReplySize {
		return nil, fmt.Errorf("reply of %d bytes is over the %d-byte limit", resp.ContentLength, MaxReplySize)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxReplySize+1))
	if err != nil {
		return nil, fmt.Errorf("read reply: %w", err)
	}
	if len(body) > MaxReplySize {
		return nil, fmt.Errorf("reply is over the %d-byte limit", MaxReplySize)
	}
	return body, nil
}

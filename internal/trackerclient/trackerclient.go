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
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
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
// answer costs seconds, not the library's minutes.
const (
	dialTimeout    = 5 * time.Second
	headerTimeout  = 10 * time.Second
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
		return Response{}, fmt.Errorf("tracker %q: not an http(s) URL", announceURL)
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
		return Response{}, fmt.Errorf("tracker %s: %w", announceURL, err)
	}
	res, err := ParseAnnounce(body)
	if err != nil {
		return Response{}, fmt.Errorf("tracker %s: %w", announceURL, err)
	}
	return res, nil
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
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
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

// ParseAnnounce decodes an announce reply. A "failure reason" is returned
// as a *FailureError.
func ParseAnnounce(b []byte) (Response, error) {
	res := Response{Interval: MinInterval, Seeders: -1, Leechers: -1}
	if len(b) > MaxReplySize {
		return res, fmt.Errorf("reply is over the %d-byte limit", MaxReplySize)
	}
	s := &scanner{b: b}
	var failure *FailureError
	seen := map[netip.AddrPort]bool{}
	add := func(p netip.AddrPort) {
		p = netip.AddrPortFrom(p.Addr().Unmap(), p.Port())
		if len(res.Peers) >= MaxPeers || !usable(p) || seen[p] {
			return
		}
		seen[p] = true
		res.Peers = append(res.Peers, p)
	}
	err := s.dict(0, func(key string) error {
		var err error
		switch key {
		case "failure reason":
			var v []byte
			if v, err = s.str(); err == nil {
				failure = &FailureError{Reason: printable(v)}
			}
		case "warning message":
			var v []byte
			if v, err = s.str(); err == nil {
				res.Warning = printable(v)
			}
		case "interval":
			var v int64
			if v, err = s.int(); err == nil {
				res.Interval = clampInterval(v)
			}
		case "complete":
			var v int64
			if v, err = s.int(); err == nil {
				res.Seeders = clampCount(v)
			}
		case "incomplete":
			var v int64
			if v, err = s.int(); err == nil {
				res.Leechers = clampCount(v)
			}
		case "peers":
			err = parsePeers(s, 4, add)
		case "peers6":
			err = parsePeers(s, 16, add)
		default:
			err = s.skip(1)
		}
		if err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return Response{}, fmt.Errorf("bad reply: %w", err)
	}
	if s.pos != len(s.b) {
		return Response{}, fmt.Errorf("bad reply: %d bytes after the dictionary", len(s.b)-s.pos)
	}
	if failure != nil {
		return Response{}, failure
	}
	return res, nil
}

// parsePeers reads a peer list in either model: a compact string of
// (ipLen+2)-byte entries, or a list of dictionaries with "ip" and "port".
func parsePeers(s *scanner, ipLen int, add func(netip.AddrPort)) error {
	c, err := s.peek()
	if err != nil {
		return err
	}
	if c >= '0' && c <= '9' {
		v, err := s.str()
		if err != nil {
			return err
		}
		step := ipLen + 2
		if len(v)%step != 0 {
			return fmt.Errorf("compact peer list of %d bytes is not a multiple of %d", len(v), step)
		}
		for i := 0; i < len(v); i += step {
			ip, _ := netip.AddrFromSlice(v[i : i+ipLen])
			add(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(v[i+ipLen:])))
		}
		return nil
	}
	if ipLen == 16 {
		return fmt.Errorf("want a compact string, found %s", s.kind())
	}
	return s.list(1, func(i int) error {
		var ip netip.Addr
		port := int64(-1)
		err := s.dict(2, func(key string) error {
			switch key {
			case "ip":
				v, err := s.str()
				if err != nil {
					return err
				}
				// Host names are not resolved: a tracker must not make
				// this node look up names of its choosing.
				ip, _ = netip.ParseAddr(string(v))
				return nil
			case "port":
				v, err := s.int()
				if err != nil {
					return err
				}
				port = v
				return nil
			default:
				return s.skip(3)
			}
		})
		if err != nil {
			return fmt.Errorf("peer %d: %w", i, err)
		}
		if ip.IsValid() && port > 0 && port <= 65535 {
			add(netip.AddrPortFrom(ip, uint16(port)))
		}
		return nil
	})
}

// usable rejects addresses that no peer can have.
func usable(p netip.AddrPort) bool {
	a := p.Addr()
	return p.Port() != 0 && a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() &&
		a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

func clampInterval(secs int64) time.Duration {
	if secs < int64(MinInterval/time.Second) {
		return MinInterval
	}
	if secs > int64(MaxInterval/time.Second) {
		return MaxInterval
	}
	return time.Duration(secs) * time.Second
}

func clampCount(v int64) int {
	return int(min(max(v, 0), 1<<31-1))
}

// printable keeps a tracker's message to one short line of printable text,
// so that it cannot garble a terminal.
func printable(b []byte) string {
	const maxLen = 200
	var sb strings.Builder
	for _, r := range string(b) {
		if sb.Len() >= maxLen {
			sb.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\uFFFD' {
			r = '?'
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// ScrapeURL derives a tracker's scrape URL from its announce URL (BEP 48:
// the last path element "announce" becomes "scrape"); ok is false when the
// tracker has none.
func ScrapeURL(announceURL string) (string, bool) {
	u, err := url.Parse(announceURL)
	if err != nil {
		return "", false
	}
	i := strings.LastIndex(u.Path, "/")
	if i < 0 || !strings.HasPrefix(u.Path[i+1:], "announce") {
		return "", false
	}
	u.Path = u.Path[:i+1] + "scrape" + strings.TrimPrefix(u.Path[i+1:], "announce")
	return u.String(), true
}

// ScrapeResult is one torrent's counts from a scrape.
type ScrapeResult struct {
	Seeders, Leechers, Completed int
}

// Scrape asks the tracker behind announceURL for the counts of infoHashes.
// Torrents the tracker does not answer for are missing from the map.
func (c *Client) Scrape(ctx context.Context, announceURL string, infoHashes [][20]byte) (map[[20]byte]ScrapeResult, error) {
	target, ok := ScrapeURL(announceURL)
	if !ok {
		return nil, fmt.Errorf("tracker %s: has no scrape URL", announceURL)
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("tracker %s: %w", announceURL, err)
	}
	q := u.Query()
	for _, ih := range infoHashes {
		q.Add("info_hash", string(ih[:]))
	}
	u.RawQuery = q.Encode()
	body, err := c.get(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("tracker %s: scrape: %w", announceURL, err)
	}
	out, err := ParseScrape(body)
	if err != nil {
		return nil, fmt.Errorf("tracker %s: scrape: %w", announceURL, err)
	}
	return out, nil
}

// ParseScrape decodes a scrape reply.
func ParseScrape(b []byte) (map[[20]byte]ScrapeResult, error) {
	if len(b) > MaxReplySize {
		return nil, fmt.Errorf("reply is over the %d-byte limit", MaxReplySize)
	}
	s := &scanner{b: b}
	out := map[[20]byte]ScrapeResult{}
	var failure *FailureError
	err := s.dict(0, func(key string) error {
		switch key {
		case "failure reason":
			v, err := s.str()
			if err != nil {
				return err
			}
			failure = &FailureError{Reason: printable(v)}
			return nil
		case "files":
			return s.dict(1, func(ih string) error {
				if len(ih) != 20 {
					return fmt.Errorf("files: key of %d bytes is not an infohash", len(ih))
				}
				var r ScrapeResult
				err := s.dict(2, func(k string) error {
					var p *int
					switch k {
					case "complete":
						p = &r.Seeders
					case "incomplete":
						p = &r.Leechers
					case "downloaded":
						p = &r.Completed
					default:
						return s.skip(3)
					}
					v, err := s.int()
					*p = clampCount(v)
					return err
				})
				if err != nil {
					return fmt.Errorf("files: %w", err)
				}
				if len(out) < 100000 {
					out[[20]byte([]byte(ih))] = r
				}
				return nil
			})
		default:
			return s.skip(1)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("bad reply: %w", err)
	}
	if s.pos != len(s.b) {
		return nil, fmt.Errorf("bad reply: %d bytes after the dictionary", len(s.b)-s.pos)
	}
	if failure != nil {
		return nil, failure
	}
	return out, nil
}

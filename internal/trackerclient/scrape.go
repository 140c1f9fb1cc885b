package trackerclient

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/distpac/distpac/internal/redact"
)

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

// MaxScrapeHashes is the most info hashes one scrape request names:
// opentracker answers the first 64 of a request and drops the rest
// without a word (OT_MAXMULTISCRAPE_COUNT), Transmission asks for at most
// 60, and the embedded tracker refuses more than this.
const MaxScrapeHashes = 64

// Scrape asks the tracker behind announceURL for the counts of infoHashes,
// MaxScrapeHashes a request. Torrents the tracker does not answer for are
// missing from the map.
func (c *Client) Scrape(ctx context.Context, announceURL string, infoHashes [][20]byte) (map[[20]byte]ScrapeResult, error) {
	target, ok := ScrapeURL(announceURL)
	if !ok {
		return nil, fmt.Errorf("tracker %s: has no scrape URL", redact.URL(announceURL))
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("tracker %s: %w", redact.URL(announceURL), err)
	}
	out := map[[20]byte]ScrapeResult{}
	for batch := range slices.Chunk(infoHashes, MaxScrapeHashes) {
		q := u.Query()
		for _, ih := range batch {
			q.Add("info_hash", string(ih[:]))
		}
		bu := *u
		bu.RawQuery = q.Encode()
		body, err := c.get(ctx, bu.String())
		if err != nil {
			return nil, fmt.Errorf("tracker %s: scrape: %w", redact.URL(announceURL), err)
		}
		res, err := ParseScrape(body)
		if err != nil {
			return nil, fmt.Errorf("tracker %s: scrape: %w", redact.URL(announceURL), err)
		}
		maps.Copy(out, res)
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

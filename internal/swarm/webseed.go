package swarm

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
)

// The HTTP fallback (DESIGN §2, web_seed): a torrent may name web seeds in
// its url-list (BEP 19); dist-server writes its own /packages/ there when
// web_seed is on. The library's web-seed client is off (ANACROLIX.md: a 5 s
// timer, deprioritised while peers exist, open panic reports), so this is
// distpac's own: when a download receives nothing from peers for
// DefaultWebSeedAfter (Config.WebSeedAfter), the pieces still missing are fetched over HTTP with range
// requests, each checked against its piece hash before it is written, and
// then verified by the library like any piece from a peer. Peers keep
// serving meanwhile; whichever brings a piece first wins.

// DefaultWebSeedAfter is how long a download may receive nothing from
// peers before it turns to the web seeds. On a LAN or loopback a seeder
// answers within milliseconds; 5 s leaves room for a slow tracker.
const DefaultWebSeedAfter = 5 * time.Second

// webSeedSpan bounds one range request; it is rounded to whole pieces.
const webSeedSpan = 4 << 20

// webSeedURL is where a single-file torrent's file lies under a url-list
// entry: an entry ending in "/" is a folder that holds the file by its
// name (as dist-server writes it, and as libtorrent reads BEP 19); any
// other entry is the file itself.
func webSeedURL(seed, name string) string {
	if strings.HasSuffix(seed, "/") {
		return seed + url.PathEscape(name)
	}
	return seed
}

// webSeeds returns the usable (http and https) url-list entries of a
// torrent.
func webSeeds(torrentBytes []byte) []string {
	mi, err := metainfo.Load(bytes.NewReader(torrentBytes))
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range mi.UrlList {
		if u, err := url.Parse(s); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			out = append(out, s)
		}
	}
	return out
}

// span is a run of whole pieces [first, end).
type span struct{ first, end int }

// missingSpans lists the pieces not yet complete as runs of at most
// maxPieces pieces.
func missingSpans(complete func(int) bool, numPieces, maxPieces int) []span {
	var out []span
	for i := 0; i < numPieces; {
		if complete(i) {
			i++
			continue
		}
		s := span{first: i, end: i}
		for s.end < numPieces && !complete(s.end) && s.end-s.first < maxPieces {
			s.end++
		}
		out = append(out, s)
		i = s.end
	}
	return out
}

// fetchWebSeed fetches the pieces of t that are still missing from the
// web seed at seed, counting the bytes written in got. It returns nil once
// it has handed every missing piece to the library, or the first failure
// (this seed is then not used again by this fetch).
func (e *Engine) fetchWebSeed(ctx context.Context, t *torrent.Torrent, seed string, got *atomic.Int64) error {
	info := t.Info()
	if info == nil {
		return errors.New("torrent has no info yet")
	}
	u := webSeedURL(seed, info.Name)
	perSpan := max(1, int(webSeedSpan/info.PieceLength))
	complete := func(i int) bool { return t.Piece(i).State().Complete }
	for _, s := range missingSpans(complete, info.NumPieces(), perSpan) {
		if err := e.fetchSpan(ctx, t, info, u, s, got); err != nil {
			return fmt.Errorf("web seed %s: %w", u, err)
		}
	}
	return nil
}

func (e *Engine) fetchSpan(ctx context.Context, t *torrent.Torrent, info *metainfo.Info, u string, s span, got *atomic.Int64) error {
	start := info.Piece(s.first).Offset()
	last := info.Piece(s.end - 1)
	end := last.Offset() + last.Length() // exclusive
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end-1))
	resp, err := e.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body := io.Reader(resp.Body)
	switch {
	case resp.StatusCode == http.StatusPartialContent:
	case resp.StatusCode == http.StatusOK:
		// A server without range support sends the whole file.
		if resp.ContentLength >= 0 && resp.ContentLength != info.Length {
			return fmt.Errorf("sent %d bytes for a %d-byte file", resp.ContentLength, info.Length)
		}
		if _, err := io.CopyN(io.Discard, body, start); err != nil {
			return fmt.Errorf("skip to byte %d: %w", start, err)
		}
	default:
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	buf := make([]byte, info.PieceLength)
	for i := s.first; i < s.end; i++ {
		p := info.Piece(i)
		b := buf[:p.Length()]
		if _, err := io.ReadFull(body, b); err != nil {
			return fmt.Errorf("piece %d: %w", i, err)
		}
		want := p.V1Hash().Unwrap()
		if sha1.Sum(b) != want {
			return fmt.Errorf("piece %d does not match its hash", i)
		}
		tp := t.Piece(i)
		if tp.State().Complete {
			continue // a peer brought it meanwhile
		}
		if err := e.files.writeAt(t.InfoHash(), b, p.Offset()); err != nil {
			return fmt.Errorf("piece %d: %w", i, err)
		}
		got.Add(int64(len(b)))
		e.webBytes.Add(int64(len(b)))
		if err := tp.VerifyDataContext(ctx); err != nil {
			return fmt.Errorf("piece %d: %w", i, err)
		}
	}
	return nil
}

// webSeedClient is the HTTP client for web seeds: proxies from the
// environment as usual, and a server that does not start answering within
// 30 s counts as failed (the body may then take as long as it takes).
func webSeedClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: tr}
}

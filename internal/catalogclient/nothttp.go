package catalogclient

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"unicode"
)

// ErrNotHTTP: the server answered the request with bytes that are not
// HTTP, such as a BitTorrent peer port's handshake (server_url pointed at
// dist-server's peer_addr, a newcomer's run).
var ErrNotHTTP = errors.New("did not answer HTTP")

// notHTTPError is ErrNotHTTP with what the first bytes of the answer look
// like, never the bytes themselves beyond a few printable characters
// (docs/HOSTILE-NETWORKS.md).
type notHTTPError struct{ first []byte }

func (e *notHTTPError) Unwrap() error { return ErrNotHTTP }

func (e *notHTTPError) Error() string {
	if bytes.HasPrefix(e.first, btHandshake) || bytes.HasPrefix(btHandshake, e.first) {
		return ErrNotHTTP.Error() + " (it sent a BitTorrent handshake: it is a BitTorrent peer port; the catalog is served on dist-server's database_addr)"
	}
	if p, ok := textStart(e.first, 16); ok {
		return fmt.Sprintf("%s (it answered %q...: the catalog is served on dist-server's database_addr)", ErrNotHTTP, p)
	}
	// An encrypted BitTorrent handshake (MSE, which dist-server's seeder
	// answers a GET with) is random bytes.
	return ErrNotHTTP.Error() + " (it answered with binary data, as a BitTorrent peer port does: the catalog is served on dist-server's database_addr)"
}

// btHandshake is how a plain BitTorrent handshake starts (BEP 3).
var btHandshake = []byte("\x13BitTorrent protocol")

// minText is how many printable characters an answer must start with to
// be quoted as another protocol's text (a banner such as SSH's): a
// seeder's random bytes start with 4 printable ones about once in 50
// answers (95 of 256 values each), with 8 and a line's end or 16 about
// once in 600,000 or 7 million.
const minText = 8

// textStart is the start of b, cut to at most n bytes, and whether it is
// text: its first n bytes (all of b when shorter) printable ASCII, or at
// least minText of them ending a line.
func textStart(b []byte, n int) (string, bool) {
	var s strings.Builder
	for _, c := range b[:min(len(b), n)] {
		if c >= 0x80 || !unicode.IsPrint(rune(c)) {
			if c == '\r' || c == '\n' {
				return s.String(), s.Len() >= minText
			}
			return s.String(), false
		}
		s.WriteByte(c)
	}
	return s.String(), s.Len() >= minText
}

// httpConn fails the first read of an answer that does not start as an
// HTTP/1.x response ("HTTP/"), with a notHTTPError. Go's HTTP client reads
// a status line up to its newline: a BitTorrent seeder's 96 to 608 random
// bytes without one held a sync until the seeder gave up its handshake 4 s
// later, and the error then quoted them all, escaped (about 300 bytes). It
// sits under TLS: a connection whose first write is a TLS record (the
// client's hello to an https:// server) is TLS's to read, and any answer
// passes; one whose first write is HTTP (a request, or a proxy's CONNECT)
// must be answered in HTTP, so that an http:// URL answered with bytes that
// look like a TLS record fails as well (an attacker's run: "\x16\x03\x01"
// and garbage got Go's message, 600 bytes and no hint).
type httpConn struct {
	net.Conn
	mu    sync.Mutex
	wrote bool // the first write went out; tls says what it was
	tls   bool
	seen  []byte // the answer's first bytes, until they are known to be HTTP
	known bool
}

const httpStart = "HTTP/"

func (c *httpConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.wrote && len(p) > 0 {
		c.wrote, c.tls = true, p[0] == tlsHandshake
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *httpConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known || n == 0 {
		return n, err
	}
	if c.tls {
		c.known = true
		return n, err
	}
	c.seen = append(c.seen, p[:min(n, 64)]...)
	m := min(len(c.seen), len(httpStart))
	if string(c.seen[:m]) != httpStart[:m] {
		first := c.seen
		c.known, c.seen = true, nil
		c.Conn.Close()
		return 0, &notHTTPError{first: first}
	}
	if m == len(httpStart) {
		c.known, c.seen = true, nil
	}
	return n, err
}

// tlsHandshake is the content type of a TLS handshake record, which a TLS
// client's first write (its hello) starts with.
const tlsHandshake = 0x16

package catalogclient

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
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
// HTTP/1.x response ("HTTP/") or a TLS record (an https:// server's
// answer to the client's hello: the check is under TLS), with a
// notHTTPError. Go's HTTP client reads a status line up to its newline:
// a BitTorrent seeder's 96 to 608 random bytes without one held a sync
// until the seeder gave up its handshake 4 s later, and the error then
// quoted them all, escaped (about 300 bytes).
type httpConn struct {
	net.Conn
	seen  []byte // the answer's first bytes, until they are known to be HTTP
	known bool
}

const httpStart = "HTTP/"

func (c *httpConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.known || n == 0 {
		return n, err
	}
	c.seen = append(c.seen, p[:min(n, 64)]...)
	if isTLSRecord(c.seen[0]) {
		if len(c.seen) < 3 {
			return n, err // its version comes next
		}
		if c.seen[1] == 3 && c.seen[2] <= 4 {
			c.known, c.seen = true, nil
			return n, err
		}
	}
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

// isTLSRecord reports whether b can start a TLS record: change cipher
// spec, alert, handshake or application data. The record's version
// (3, 0 to 4) follows: the first byte alone is one of these in a seeder's
// random bytes once in 64 answers, which then waited its 4 s again.
func isTLSRecord(b byte) bool { return b >= 0x14 && b <= 0x17 }

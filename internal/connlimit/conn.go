package connlimit

// The connections a Listener accepted: each gives its slot back when
// closed, and notes when a write to it began, so that one whose client
// does not read can be told (victimOfHogLocked).

import (
	"io"
	"math"
	"time"
)

// stallAfter is how long a write to a connection lasts before the
// connection counts as stalled: its client does not read what it asked
// for. Writes go in parts of at most writePart (Write, ReadFrom), so a
// client reading 6.4 KiB/s or more is never stalled, and one reading
// less loses its connection only to a newcomer, with the total full,
// when its address holds the most.
const stallAfter = 10 * time.Second

// writePart is the most Write and ReadFrom write at once (see stallAfter).
const writePart = 64 << 10

func (c *conn) Close() error {
	c.l.mu.Lock()
	c.l.releaseLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// Write writes b in parts of writePart, noting when each began, for
// victimOfHogLocked.
func (c *conn) Write(b []byte) (int, error) {
	n := 0
	for {
		part := b[n:min(len(b), n+writePart)]
		c.writeSince.Store(c.l.opts.Now().UnixNano())
		m, err := c.Conn.Write(part)
		c.writeSince.Store(0)
		n += m
		if err != nil || n == len(b) {
			return n, err
		}
	}
}

// ReadFrom and CloseWrite pass through what http.Server uses when the
// connection has it (sendfile; a graceful close after an error).
// ReadFrom writes in parts of writePart, each noted as Write notes its
// own; a part of a file is still sent by sendfile, which takes one
// *io.LimitedReader around an *os.File, as http.ServeContent passes.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	lr, ok := r.(*io.LimitedReader)
	if !ok {
		lr = &io.LimitedReader{R: r, N: math.MaxInt64}
	}
	var n int64
	for lr.N > 0 {
		part := &io.LimitedReader{R: lr.R, N: min(lr.N, writePart)}
		c.writeSince.Store(c.l.opts.Now().UnixNano())
		m, err := io.Copy(c.Conn, part)
		c.writeSince.Store(0)
		n += m
		lr.N -= m
		if err != nil || part.N > 0 { // an error, or the reader's end
			return n, err
		}
	}
	return n, nil
}

func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

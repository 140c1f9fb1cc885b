package connlimit

// The connections a Listener accepted: each gives its slot back when
// closed, and notes when a write to it began, so that one whose client
// does not read can be told (victimOfHogLocked); its server says when it
// is idle and when it began a request (SetIdle, SetUsed).

import (
	"container/list"
	"io"
	"math"
	"net"
	"net/http"
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

// SetIdle says whether c, a connection this listener accepted, is idle
// between requests: the only connections closed to make room. Bind sets
// it from http.Server.ConnState.
func (l *Listener) SetIdle(nc net.Conn, idle bool) {
	c, ok := nc.(*conn)
	if !ok || c.l != l {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !idle {
		l.unidleLocked(c)
		return
	}
	if c.idle != nil || c.released {
		return
	}
	q := l.idleOf[c.host]
	if q == nil {
		q = list.New()
		l.idleOf[c.host] = q
	}
	c.idle, c.idleOfHost = l.idle.PushBack(c), q.PushBack(c)
}

// SetUsed says that c, a connection this listener accepted, has begun a
// request: it is no longer closed to give a newcomer a fair share. Bind
// sets it from http.Server.ConnState on http.StateActive.
func (l *Listener) SetUsed(nc net.Conn) {
	c, ok := nc.(*conn)
	if !ok || c.l != l {
		return
	}
	l.mu.Lock()
	c.used = true
	l.mu.Unlock()
}

// connState is an http.Server's ConnState for the connections of this
// listener (Bind): it marks them used (SetUsed) and idle (SetIdle) as
// they go.
func (l *Listener) connState(c net.Conn, st http.ConnState) {
	if st == http.StateActive {
		l.SetUsed(c)
	}
	l.SetIdle(c, st == http.StateIdle)
}

func (l *Listener) unidleLocked(c *conn) {
	if c.idle == nil {
		return
	}
	l.idle.Remove(c.idle)
	q := l.idleOf[c.host]
	q.Remove(c.idleOfHost)
	if q.Len() == 0 {
		delete(l.idleOf, c.host)
	}
	c.idle, c.idleOfHost = nil, nil
}

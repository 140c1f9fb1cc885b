package connlimit

// Files a handler opens to answer a request: each holds a descriptor
// beside its connection's socket, so each takes a slot of the total.

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// retryAfter is the Retry-After, in seconds, of HoldFile's 503: the fair
// share frees a stalled reply's slot after stallAfter.
var retryAfter = strconv.Itoa(int(stallAfter / time.Second))

type connKey struct{}

// Bind sets s's hooks for the connections of this listener: ConnState
// marks them used and idle as they go, ConnContext lets HoldFile find the
// connection of a request. Every HTTP server over a Listener is bound.
func (l *Listener) Bind(s *http.Server) {
	s.ConnState = l.connState
	s.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if lc, ok := c.(*conn); ok && lc.l == l {
			return context.WithValue(ctx, connKey{}, lc)
		}
		return ctx
	}
}

// HoldFile takes a slot of the total for a file that the handler of r is
// about to open, making room as a new connection would (the longest-idle
// connection, or the fair share of the address holding the most);
// release gives the slot back and must be called once the file is
// closed. When the total is full and nothing can make room, it answers r
// itself, 503 with a Retry-After, and returns ok false. It holds nothing
// (release does nothing) for a request whose connection no bound
// Listener accepted (a unix socket, a test's recorder).
//
// Why: a web-seed download holds its socket and the archive it reads, and
// the total counted only the socket. With every connection of the
// catalog listener downloading, it held twice its total of descriptors,
// and a process whose descriptor limit had room for the total alone hit
// EMFILE: the archive was answered 500 ("archive unreadable") and new
// connections waited in the kernel's queue while accept failed.
func HoldFile(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	c, _ := r.Context().Value(connKey{}).(*conn)
	if c == nil {
		return func() {}, true
	}
	l := c.l
	victim, fair, ok := l.admitFile(c)
	if victim != nil {
		victim.Conn.Close()
	}
	if fair {
		if logIt, n := l.logTurn(); logIt {
			l.opts.Logger.Warn("connection closed: the total limit is full, and the address holding the most gave up a silent or stalled one (a request never sent, or a reply not read for 10 s) to a file another address asked for",
				"listener", l.opts.Name, "closed_ip", victim.host, "new_ip", c.host, "limit", l.opts.Total, "events_since_last_line", n)
		}
	}
	if !ok {
		if logIt, n := l.logTurn(); logIt {
			l.opts.Logger.Warn("file refused (503): the total limit is full, a file counting as a connection, none idle",
				"listener", l.opts.Name, "ip", c.host, "path", r.URL.Path, "limit", l.opts.Total, "events_since_last_line", n)
		}
		w.Header().Set("Retry-After", retryAfter)
		http.Error(w, "this server holds as many open files and connections as it may; try again later", http.StatusServiceUnavailable)
		return nil, false
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.total--
			l.mu.Unlock()
		})
	}, true
}

// admitFile counts a file of c's in, making room when the total is full.
func (l *Listener) admitFile(c *conn) (victim *conn, fair, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	held := l.open[c.host]
	if !c.released { // closed to make room meanwhile: no longer counted
		held--
	}
	if l.total >= l.opts.Total {
		if victim, fair = l.roomLocked(held); victim == nil {
			l.refusedFile.Add(1)
			return nil, false, false
		}
	}
	l.total++
	return victim, fair, true
}

// Package connlimit bounds the connections a server holds open: at most
// PerIP at once from one address (one IPv6 /64, which one host gets) and
// Total descriptors in all, a connection's socket and each file a handler
// holds open for it (HoldFile: a web-seed download holds two). When a new
// connection would go over a bound, the longest-idle keep-alive
// connection within that bound (the address's, or anyone's) is closed to
// make room, as nginx reuses its idle keep-alive connections when it runs
// out; when none is idle, the new connection is closed as soon as it is
// accepted, counted, and logged at most once per LogEvery, naming the
// address.
//
// When the total is full and none is idle, the address holding the most
// connections gives up its oldest one that never sent a request, or else
// its oldest one whose reply it has not read for stallAfter, to a new
// address holding fewer (less one), so that a few addresses holding
// silent connections, or downloads they do not read, cannot keep everyone
// else out.
//
// Why: every open connection holds a file descriptor, and nothing else
// bounded them. One client held 20,000 connections open to dist-server
// and the process reached its descriptor limit (20,000 on the machine of
// that run): the catalog answered the requests it had, but nothing else
// could be accepted. http.Server's timeouts do not prevent it:
// ReadHeaderTimeout (10 s) closes a connection that sends nothing and
// IdleTimeout (2 min) one idle between requests, but a client that opens
// them again, or sends a request now and then, holds as many as it likes.
//
// Idle connections are closed first because legitimate clients keep many:
// a distpac node seeding 48 packages kept 13 to 16 connections to the
// tracker open all the time (measured: its announces come in bursts of up
// to 16 every interval, and its HTTP client keeps 16 idle), so without
// reuse a few dozen such nodes behind one NAT address, or a few hundred
// in all, would fill any bound. A client whose idle connection was closed
// opens a new one for its next request (Go's transport retries a GET that
// met a connection closed at that moment).
//
// The server tells the listener which connections are idle with SetIdle,
// from http.Server.ConnState, which Bind sets. NewHTTPServer is the
// http.Server every HTTP listener of the programs serves through: its
// timeouts and header limit bound what one connection holds, as the
// listener bounds how many.
package connlimit

import (
	"container/list"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPerIP is the connections one address may hold open at once on one
// listener. A distpac node announces at most 16 torrents at once (swarm's
// announcesInFlight) and a mirror fetches at most 8 archives at once beside
// its sync; with idle connections closed first, 256 is 16 nodes behind one
// NAT address announcing at their busiest in the same moment, and a
// refused announce is tried again 5 s later. Hundreds of announces a
// second from one address do not need more: the embedded tracker answers
// one in 0.2 ms.
const DefaultPerIP = 256

// DefaultMaxTotal caps Total; DefaultTotal also keeps it to an eighth of
// the descriptor limit. dist-server serves HTTP on at most four listeners
// (tracker, catalog, metrics, control), so their connections and the
// files they read (the web seed's archives) take at most half of the
// descriptors and the other half stays for the seeder's peers,
// the archives it reads and SQLite. At the embedded tracker's measured
// 10,600 announces a second (docs/SCALING.md), connections of 100 ms each
// are 1,060 at once.
const DefaultMaxTotal = 4096

// DefaultLogEvery is how often refusals are logged at most, per listener.
const DefaultLogEvery = 10 * time.Second

// DefaultTotal is DefaultMaxTotal, or an eighth of the process's
// descriptor limit when that is less (2,500 for a limit of 20,000).
func DefaultTotal() int {
	if n := OpenFileLimit(); n > 0 && n/8 < DefaultMaxTotal {
		return max(1, n/8)
	}
	return DefaultMaxTotal
}

// Options configure a Listener. The zero value gives the defaults.
type Options struct {
	// Name names the listener in logs ("tracker", "catalog").
	Name string
	// PerIP bounds the connections open at once from one address (for
	// IPv6, one /64); 0 means DefaultPerIP.
	PerIP int
	// Total bounds the descriptors the listener's connections hold at
	// once: one for each connection, and one for each file a handler
	// holds with HoldFile; 0 means DefaultTotal().
	Total int
	// Logger receives the refusals, at warning level; nil discards them.
	Logger *slog.Logger
	// LogEvery is the least time between two log lines; 0 means
	// DefaultLogEvery.
	LogEvery time.Duration
	// Now is the clock (default time.Now); tests inject a fake one.
	Now func() time.Time
}

func (o *Options) applyDefaults() {
	if o.PerIP <= 0 {
		o.PerIP = DefaultPerIP
	}
	if o.Total <= 0 {
		o.Total = DefaultTotal()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LogEvery <= 0 {
		o.LogEvery = DefaultLogEvery
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Counts are what a Listener closed since Wrap: new connections refused
// over a bound with nothing idle to close, and idle connections closed
// to make room.
type Counts struct {
	RefusedPerIP, RefusedTotal, IdleClosed uint64
	// FairClosed counts connections of the address holding the most that
	// were closed, with the total full and none idle, to let a new address
	// in (see admit), or to let another address open a file (HoldFile).
	FairClosed uint64
	// RefusedFile counts files refused by HoldFile (answered 503): the
	// total full, none idle, no fair share to take.
	RefusedFile uint64
}

// Listener is a net.Listener whose Accept keeps the connections within
// its bounds. It is safe for concurrent use.
type Listener struct {
	net.Listener
	opts                                 Options
	refusedIP, refusedAll, closedForRoom atomic.Uint64
	closedForFair, refusedFile           atomic.Uint64

	mu       sync.Mutex
	open     map[netip.Addr]int        // connections open by host; guarded by mu
	oldest   map[netip.Addr]*list.List // each host's open connections, oldest first; guarded by mu
	total    int                       // descriptors: connections and the files HoldFile counted; guarded by mu
	idle     list.List                 // of *conn, longest idle first; guarded by mu
	idleOf   map[netip.Addr]*list.List // the same by host; guarded by mu
	lastLog  time.Time                 // guarded by mu
	unlogged uint64                    // refusals since the last log line; guarded by mu
}

// Wrap bounds the connections accepted from ln.
func Wrap(ln net.Listener, opts Options) *Listener {
	opts.applyDefaults()
	return &Listener{Listener: ln, opts: opts, open: map[netip.Addr]int{}, oldest: map[netip.Addr]*list.List{}, idleOf: map[netip.Addr]*list.List{}}
}

// conn is an accepted connection; it gives its slot back once, when
// closed by its server or by the listener to make room.
type conn struct {
	net.Conn
	l    *Listener
	host netip.Addr
	// released: its slot was given back; guarded by l.mu.
	released bool
	// idle and idleOfHost are its elements in l.idle and l.idleOf[host]
	// while it is idle, else nil; guarded by l.mu.
	idle, idleOfHost *list.Element
	// open is its element in l.oldest[host] while it holds a slot;
	// guarded by l.mu.
	open *list.Element
	// used: it has begun a request (SetUsed); guarded by l.mu.
	used bool
	// writeSince is when the write in progress began (Options.Now, in
	// Unix nanoseconds), 0 when none is (Write, ReadFrom).
	writeSince atomic.Int64
}

// Accept returns the next connection within the bounds, making room by
// closing idle ones or closing the new ones it has no room for.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c := &conn{Conn: nc, l: l, host: host(nc.RemoteAddr())}
		victim, fair, over := l.admit(c)
		if victim != nil {
			victim.Conn.Close() // its server sees the error and closes it again, a no-op for the count
		}
		if fair {
			if logIt, n := l.logTurn(); logIt {
				l.opts.Logger.Warn("connection closed: the total limit is full, and the address holding the most gave up a silent or stalled one (a request never sent, or a reply not read for 10 s) to a new address",
					"listener", l.opts.Name, "closed_ip", victim.host, "new_ip", c.host, "limit", l.opts.Total, "events_since_last_line", n)
			}
		}
		if over != "" {
			l.refuse(c, over)
			continue
		}
		return c, nil
	}
}

// Counts returns what the listener closed since Wrap.
func (l *Listener) Counts() Counts {
	return Counts{RefusedPerIP: l.refusedIP.Load(), RefusedTotal: l.refusedAll.Load(), IdleClosed: l.closedForRoom.Load(), FairClosed: l.closedForFair.Load(), RefusedFile: l.refusedFile.Load()}
}

// admit counts c in, first taking the slot of an idle connection (victim,
// for the caller to close) when c would go over a bound; over names the
// bound c is over when nothing idle could make room.
func (l *Listener) admit(c *conn) (victim *conn, fair bool, over string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open[c.host] >= l.opts.PerIP:
		if q := l.idleOf[c.host]; q != nil {
			victim = q.Front().Value.(*conn)
			l.releaseLocked(victim)
			l.closedForRoom.Add(1)
		} else {
			l.refusedIP.Add(1)
			return nil, false, "per-address"
		}
	case l.total >= l.opts.Total:
		if victim, fair = l.roomLocked(l.open[c.host]); victim == nil {
			l.refusedAll.Add(1)
			return nil, false, "total"
		}
	}
	l.countInLocked(c)
	return victim, fair, ""
}

// roomLocked makes room for one more descriptor in the total, for an
// address holding held connections: it takes the slot of the longest-idle
// connection, or else (fair) of the one victimOfHogLocked names, and
// returns that connection for the caller to close; nil when there is none.
// held is what the asker's address holds, the connection asking left out.
//
// None idle: the address holding the most gives up its oldest connection
// that never sent a request, or else one whose reply it has not read for
// stallAfter, to one holding fewer. Ten addresses holding silent
// connections (opened again as the header timeout closes them) filled the
// total, and every other client was refused; now they share it with the
// newcomers. So did twelve holding 2,500 downloads of an archive that they
// read 32 bytes a second of, for the 30 minutes of WriteTimeout (an
// attacker's run). A reply its client reads is never closed for it.
func (l *Listener) roomLocked(held int) (victim *conn, fair bool) {
	if e := l.idle.Front(); e != nil {
		victim = e.Value.(*conn)
	} else if victim = l.victimOfHogLocked(held); victim != nil {
		fair = true
	} else {
		return nil, false
	}
	l.releaseLocked(victim)
	if fair {
		l.closedForFair.Add(1)
	} else {
		l.closedForRoom.Add(1)
	}
	return victim, fair
}

// countInLocked gives c a slot.
func (l *Listener) countInLocked(c *conn) {
	l.open[c.host]++
	l.total++
	q := l.oldest[c.host]
	if q == nil {
		q = list.New()
		l.oldest[c.host] = q
	}
	c.open = q.PushBack(c)
}

// victimOfHogLocked returns, of the address holding the most connections
// when that address holds more than held plus one (see roomLocked), the
// oldest connection that never sent a request, or else the oldest stalled
// in a write (stallAfter); nil otherwise. Scanned only when the total is
// full and none is idle. The asker's own address never gives one up:
// holding the most, it holds held plus one at most.
func (l *Listener) victimOfHogLocked(held int) *conn {
	var hog netip.Addr
	most := 0
	for h, n := range l.open {
		if n > most {
			hog, most = h, n
		}
	}
	if most <= held+1 {
		return nil
	}
	var stalled *conn
	since := l.opts.Now().Add(-stallAfter).UnixNano()
	for e := l.oldest[hog].Front(); e != nil; e = e.Next() {
		c := e.Value.(*conn)
		if !c.used {
			return c
		}
		if w := c.writeSince.Load(); stalled == nil && w != 0 && w <= since {
			stalled = c
		}
	}
	return stalled
}

// releaseLocked gives c's slot back, the first time it is called.
func (l *Listener) releaseLocked(c *conn) {
	if c.released {
		return
	}
	c.released = true
	l.unidleLocked(c)
	if l.open[c.host]--; l.open[c.host] <= 0 {
		delete(l.open, c.host)
	}
	if q := l.oldest[c.host]; q != nil && c.open != nil {
		q.Remove(c.open)
		if q.Len() == 0 {
			delete(l.oldest, c.host)
		}
		c.open = nil
	}
	l.total--
}

// refuse closes c at once: with SO_LINGER 0 the kernel resets it and keeps
// no TIME_WAIT state for it. It is counted and logged before, so that
// whoever sees the connection closed finds it in the log.
func (l *Listener) refuse(c *conn, over string) {
	if logIt, n := l.logTurn(); logIt {
		limit := l.opts.PerIP
		if over == "total" {
			limit = l.opts.Total
		}
		l.opts.Logger.Warn("connection refused: over the "+over+" limit, none idle", "listener", l.opts.Name,
			"ip", c.host, "limit", limit, "events_since_last_line", n)
	}
	if tc, ok := c.Conn.(interface{ SetLinger(int) error }); ok {
		tc.SetLinger(0)
	}
	c.Conn.Close()
}

// logTurn counts an event worth a log line and reports whether this one
// may be logged (at most one line every LogEvery, refusals and fair-share
// closes together), with the events since the last line.
func (l *Listener) logTurn() (bool, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unlogged++
	now, n := l.opts.Now(), l.unlogged
	logIt := l.lastLog.IsZero() || now.Sub(l.lastLog) >= l.opts.LogEvery
	if logIt {
		l.lastLog, l.unlogged = now, 0
	}
	return logIt, n
}

// host is the address a connection is counted under: the remote IP,
// IPv4-mapped addresses unmapped, an IPv6 address cut to its /64. A remote
// address that is no IP (a unix socket) counts under the zero Addr.
func host(a net.Addr) netip.Addr {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr()
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

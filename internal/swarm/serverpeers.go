package swarm

// The servers' seeders beside the publisher's. The catalog names the
// publisher's seeder (a download's direct peers), and nothing signed
// names a mirror's (dist-server mirror): its peer port is in no catalog,
// and a client counted what it sent among "other peers". A peer counts
// as a server's (Transfer.FromMirrors) when it names itself a dist-server
// seeder in its BEP 10 handshake (serverVersion) and its address is one
// of the hosts of the client's server_urls (Config.MirrorWebSeeds). The
// name alone is the peer's word, which any peer can send: one that says
// it at another host is another peer.

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// resolveTimeout bounds the lookup of the servers' host names.
const resolveTimeout = 5 * time.Second

// resolveAgain is how long the addresses of the same host names are kept
// before a new list of servers (a daemon's next request) looks them up
// again.
const resolveAgain = time.Minute

// serverHosts is the addresses of the hosts of an engine's servers.
// Addresses are read for every chunk a server-named peer sends, without
// a lock; names are looked up in the background, so that no download
// waits for DNS (until then a mirror's bytes count as another peer's).
type serverHosts struct {
	addrs atomic.Pointer[[]netip.Addr]
	// lookup looks a host name up: net.DefaultResolver's when nil (a
	// test's otherwise, set before the first set).
	lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)

	mu       sync.Mutex
	gen      int       // set's calls; a lookup stores its answer only if no set came after it
	hosts    []string  // the hosts of the last set, sorted
	resolved time.Time // when their names were last looked up
}

// isServerName reports whether v, a peer's BEP 10 client name, is a
// dist-server seeder's.
func isServerName(v string) bool {
	return v == serverVersion || strings.HasPrefix(v, serverVersion+" ")
}

// has reports whether a is the address of a server's host.
func (h *serverHosts) has(a netip.Addr) bool {
	p := h.addrs.Load()
	return p != nil && slices.Contains(*p, a.Unmap())
}

// set takes the hosts of seeds (the servers' /packages/ URLs): the
// addresses given as such at once, the names' once looked up (until stop
// closes). The same hosts again keep their addresses, looked up again
// after resolveAgain.
func (h *serverHosts) set(seeds []string, stop <-chan struct{}) {
	var hosts, names []string
	var addrs []netip.Addr
	for _, s := range seeds {
		u, err := url.Parse(s)
		if err != nil || u.Hostname() == "" || slices.Contains(hosts, u.Hostname()) {
			continue
		}
		hosts = append(hosts, u.Hostname())
		if a, err := netip.ParseAddr(u.Hostname()); err == nil {
			addrs = append(addrs, a.Unmap())
		} else {
			names = append(names, u.Hostname())
		}
	}
	// The same hosts in another order are the same servers: a daemon
	// orders them for each request (a server that failed a sync goes
	// last), and the new order dropped the names' addresses until they
	// were looked up again, its mirrors' bytes counted as other peers'
	// meanwhile.
	slices.Sort(hosts)
	h.mu.Lock()
	defer h.mu.Unlock()
	same := slices.Equal(hosts, h.hosts)
	if same && (len(names) == 0 || time.Since(h.resolved) < resolveAgain) {
		return
	}
	h.gen++
	h.hosts = hosts
	if !same {
		h.addrs.Store(&addrs)
	}
	if len(names) == 0 {
		return
	}
	h.resolved = time.Now()
	go h.lookUp(h.gen, addrs, names, stop)
}

// lookUp adds the addresses of names to addrs and stores them, unless
// another set came since gen.
func (h *serverHosts) lookUp(gen int, addrs []netip.Addr, names []string, stop <-chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	lookup := h.lookup
	if lookup == nil {
		lookup = net.DefaultResolver.LookupNetIP
	}
	for _, name := range names {
		ips, err := lookup(ctx, "ip", name)
		if err != nil {
			continue // its peers are other peers
		}
		for _, a := range ips {
			if a = a.Unmap(); !slices.Contains(addrs, a) {
				addrs = append(addrs, a)
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen == gen {
		h.addrs.Store(&addrs)
	}
}

package server

// The addresses a server listens on, opened before it starts anything:
// each one another program holds is reported at once, with its key and
// the configuration file that sets it.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/distpac/distpac/internal/config"
)

// listeners are a server's TCP listeners, opened by listenAll; nil where
// the component is off. A component takes its listener (take), and close
// closes those not taken, when the start fails on the way.
type listeners struct {
	tracker, catalog, metrics net.Listener
}

// take hands *ln over to its component: close leaves it alone.
func take(ln *net.Listener) net.Listener {
	l := *ln
	*ln = nil
	return l
}

func (l *listeners) close() {
	for _, ln := range []net.Listener{l.tracker, l.catalog, l.metrics} {
		if ln != nil {
			ln.Close()
		}
	}
}

// listenWants says which components a server runs.
type listenWants struct{ tracker, seeder, catalog bool }

// listenAll opens the listeners of the components wanted, and checks that
// the seeder's peer_addr is free (the BitTorrent library listens there
// itself: its listener is opened and closed again, and swarm.New opens it
// right after), before anything starts. Every address that fails is in
// one *ListenError: a second server on the same ports was told of
// tracker_addr, then once that was changed of peer_addr, and never of
// database_addr, which was taken too (a newcomer's run).
func listenAll(cfg *config.Server, configPath string, want listenWants) (*listeners, error) {
	l := &listeners{}
	var failed []ListenFailure
	var opened [][2]string // the key and the address of each one listened on
	open := func(key, network, addr string) net.Listener {
		ln, err := net.Listen(network, addr)
		if err != nil {
			f := ListenFailure{Key: key, Addr: addr, Err: err}
			// In use by this server's own listener of another key (database_addr
			// set to the tracker's port), not by another program.
			for _, o := range opened {
				if errors.Is(err, syscall.EADDRINUSE) && sameAddr(o[1], addr) {
					f.SameAs = fmt.Sprintf("%s %q", o[0], o[1])
					break
				}
			}
			failed = append(failed, f)
			return nil
		}
		opened = append(opened, [2]string{key, addr})
		return ln
	}
	if want.tracker {
		l.tracker = open("tracker_addr", "tcp", cfg.TrackerAddr)
	}
	if want.catalog {
		l.catalog = open("database_addr", "tcp", cfg.DatabaseAddr)
		if cfg.MetricsAddr != "" {
			l.metrics = open("metrics_addr", "tcp", cfg.MetricsAddr)
		}
	}
	if want.seeder {
		if _, port, _ := net.SplitHostPort(cfg.PeerAddr); port != "0" {
			if ln := open("peer_addr", seederNetwork(cfg.PeerAddr), cfg.PeerAddr); ln != nil {
				ln.Close()
			}
		}
	}
	if len(failed) > 0 {
		l.close()
		return nil, &ListenError{Config: configPath, Failed: failed}
	}
	return l, nil
}

// seederNetwork is the network the seeder listens on at addr: IPv4 alone
// unless the host is an IPv6 address (swarm.New turns IPv6 off
// otherwise), so that the check binds what the seeder will.
func seederNetwork(addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.To4() != nil {
		return "tcp4"
	}
	return "tcp"
}

// sameAddr reports whether listen addresses a and b, the same port (not
// 0) on the same host or on all of them, take one another's place.
func sameAddr(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	wild := func(h string) bool { ip := net.ParseIP(h); return h == "" || ip != nil && ip.IsUnspecified() }
	return errA == nil && errB == nil && pa == pb && pa != "0" && (ha == hb || wild(ha) || wild(hb))
}

// ListenFailure is one address a server could not listen on.
type ListenFailure struct {
	Key  string // its key in server.yaml: tracker_addr, database_addr, ...
	Addr string
	Err  error
	// SameAs names the key, and its address, that this server listens on
	// already at Addr: the address is in use by the server itself.
	SameAs string
}

// ListenError lists every address a server could not listen on, and the
// configuration file in force (Config, "" for none given).
type ListenError struct {
	Config string
	Failed []ListenFailure
}

func (e *ListenError) Error() string {
	var inUse, same, other []string
	for _, f := range e.Failed {
		if f.SameAs != "" {
			same = append(same, fmt.Sprintf("%s %q is the address of %s too", f.Key, f.Addr, f.SameAs))
		} else if errors.Is(f.Err, syscall.EADDRINUSE) {
			inUse = append(inUse, fmt.Sprintf("%s %q", f.Key, f.Addr))
		} else {
			other = append(other, fmt.Sprintf("%s %q: %v", f.Key, f.Addr, f.Err))
		}
	}
	where := "server.yaml"
	if e.Config != "" {
		where = e.Config
		if _, err := os.Stat(e.Config); errors.Is(err, os.ErrNotExist) {
			where += " (it does not exist yet: these are the defaults)"
		}
	}
	var parts []string
	if len(inUse) > 0 {
		noun, ones := "address", "a free one"
		if len(inUse) > 1 {
			noun, ones = "addresses", "free ones"
		}
		parts = append(parts, fmt.Sprintf("%s in use: %s: another program listens there (another dist-server perhaps): stop it, or set %s in %s",
			noun, strings.Join(inUse, ", "), ones, where))
	}
	if len(same) > 0 {
		parts = append(parts, fmt.Sprintf("%s: give each its own port in %s", strings.Join(same, ", "), where))
	}
	if len(other) > 0 {
		parts = append(parts, fmt.Sprintf("cannot listen on %s: set others in %s", strings.Join(other, ", "), where))
	}
	return strings.Join(parts, "; ")
}

func (e *ListenError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f.Err
	}
	return errs
}

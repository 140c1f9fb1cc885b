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
	open := func(key, network, addr string) net.Listener {
		ln, err := net.Listen(network, addr)
		if err != nil {
			failed = append(failed, ListenFailure{Key: key, Addr: addr, Err: err})
		}
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

// ListenFailure is one address a server could not listen on.
type ListenFailure struct {
	Key  string // its key in server.yaml: tracker_addr, database_addr, ...
	Addr string
	Err  error
}

// ListenError lists every address a server could not listen on, and the
// configuration file in force (Config, "" for none given).
type ListenError struct {
	Config string
	Failed []ListenFailure
}

func (e *ListenError) Error() string {
	var inUse, other []string
	for _, f := range e.Failed {
		if errors.Is(f.Err, syscall.EADDRINUSE) {
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

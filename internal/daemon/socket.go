package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/distpac/distpac/internal/fsutil"
)

// Listener is the daemon's socket: a unix listener bound in a private
// directory and linked into place, which removes its own path on Close,
// and the daemon's lock, which Release lets go.
type Listener struct {
	*net.UnixListener
	path  string
	inode os.FileInfo
	lock  *flock.Flock // held until Release (Listen)
	once  sync.Once
}

func (l *Listener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

// Release lets the daemon's lock go. Call it once the daemon has closed
// everything else (the engine's port and files): the HTTP server closes
// the listener first, and a daemon started then must not run beside what
// is still open. A process that ends releases it anyway.
func (l *Listener) Release() { l.lock.Unlock() }

func (l *Listener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		// Only our own socket: never one a later daemon put there.
		if fi, serr := os.Lstat(l.path); serr == nil && os.SameFile(fi, l.inode) {
			os.Remove(l.path)
		}
	})
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Holder is the process ID of the daemon that holds the socket at path
// (its lock), whether or not it answers there; 0 when none does or the
// system does not say (fsutil.LockHolder).
func Holder(path string) int { return fsutil.LockHolder(path + ".lock") }

// Locked reports whether a daemon holds the socket at path (its lock),
// whether or not it answers there: one starting, stopping, or waiting for
// peer_addr (Run). Where Holder cannot name the holder, this still tells.
func Locked(path string) bool { return fsutil.LockBusy(path + ".lock") }

// Listen takes the unix socket at path for a daemon: it fails when another
// daemon answers there, and replaces a socket left by one that was killed.
// Call it before anything else a daemon starts, so a second daemon stops
// before it seeds or says it runs.
//
// A daemon holds a lock on path + ".lock" until Release, or until it dies
// (the kernel releases it, even after kill -9), taken before it looks at
// the socket: without it, two daemons starting at once beside a socket left by
// a killed one both found it dead, and the second removed the first one's
// new socket and linked its own, so both ran and one was unreachable
// (TestListenRaceAfterKill: 40-100 rounds in 500).
//
// The socket is 0600 whatever the umask, and never wider for a moment: it
// is bound inside a fresh 0700 directory, made 0600 there, and only then
// hard-linked to path (link, unlike rename, fails when path exists). Who
// may connect is checked again on every connection (the kernel's record of
// the caller: SO_PEERCRED on Linux, LOCAL_PEERCRED on macOS and FreeBSD; see
// Serve).
func Listen(path string) (*Listener, error) {
	lock, err := lockSocket(path)
	if err != nil {
		return nil, err
	}
	l, err := listenLocked(path, lock)
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	return l, nil
}

// Reopen closes the socket (when it is open) and listens at its path
// again, under the lock it holds: a daemon that gave its socket up while
// it waited for peer_addr (Run) takes it back, and no other daemon can
// have started meanwhile.
func (l *Listener) Reopen() (*Listener, error) {
	l.Close()
	return listenLocked(l.path, l.lock)
}

// lockSocket takes the daemon's lock beside the socket at path (Listen).
func lockSocket(path string) (*flock.Flock, error) {
	if len(path) > MaxSocketPath {
		return nil, fmt.Errorf("daemon socket %s: path is %d bytes, unix sockets allow %d: use a shorter XDG_DATA_HOME", path, len(path), MaxSocketPath)
	}
	// A FIFO there would block the lock's open for ever (as in
	// state.Acquire).
	if err := fsutil.NotRegular(path + ".lock"); err != nil {
		return nil, fmt.Errorf("daemon socket: lock: %w", err)
	}
	lock := flock.New(path + ".lock")
	ok, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("daemon socket: lock %s: %w", lock.Path(), err)
	}
	if !ok {
		holder := ""
		if pid := Holder(path); pid > 0 {
			holder = fmt.Sprintf(" (pid %d)", pid) // a second daemon named only the lock file
		}
		return nil, fmt.Errorf("daemon socket %s: another daemon is running%s (it holds %s)", path, holder, lock.Path())
	}
	return lock, nil
}

// listenLocked binds the socket at path for the daemon that holds lock
// (Listen).
func listenLocked(path string, lock *flock.Flock) (*Listener, error) {
	// A socket left by a daemon that was killed refuses connections. Under
	// the lock no other daemon of this directory is running, but one
	// answering there means the lock file was removed under it.
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("daemon socket %s: another daemon is running", path)
		}
		os.Remove(path)
	}
	private, err := os.MkdirTemp(filepath.Dir(path), ".daemon-")
	if err != nil {
		return nil, fmt.Errorf("daemon socket: %w", err)
	}
	defer os.RemoveAll(private)
	tmp := filepath.Join(private, "s")
	if len(tmp) > MaxSocketPath {
		return nil, fmt.Errorf("daemon socket %s: path is %d bytes, unix sockets allow %d: use a shorter XDG_DATA_HOME", tmp, len(tmp), MaxSocketPath)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("daemon socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("daemon socket: %w", err)
	}
	if err := os.Link(tmp, path); err != nil {
		ln.Close()
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("daemon socket %s: another daemon is running", path)
		}
		return nil, fmt.Errorf("daemon socket: %w", err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("daemon socket: %w", err)
	}
	return &Listener{UnixListener: ln, path: path, inode: fi, lock: lock}, nil
}

// peer is who is at the other end of a connection, from the kernel's
// record of the process that connected, which it cannot forge (peerCred).
type peer struct {
	cred *peerCredentials
	err  error
}

// peerCredentials are a connected process's user and, where the platform
// tells, its pid (0 where it does not).
type peerCredentials struct {
	uid uint32
	pid int32
}

type peerKey struct{}

// withPeer records a connection's credentials in its context (the
// http.Server's ConnContext).
func withPeer(ctx context.Context, c net.Conn) context.Context {
	p := peer{err: errors.New("not a unix socket connection")}
	if uc, ok := c.(*net.UnixConn); ok {
		raw, err := uc.SyscallConn()
		if err != nil {
			p.err = err
		} else if cerr := raw.Control(func(fd uintptr) {
			p.cred, p.err = peerCred(int(fd))
		}); cerr != nil {
			p.err = cerr
		}
	}
	return context.WithValue(ctx, peerKey{}, p)
}

// onlyOwner lets through requests from the daemon's own uid and root, and
// answers everyone else 403 with a log line. The socket's mode already
// keeps others out; this holds even when the socket or its directory was
// made wider by hand, or the daemon runs as root.
func onlyOwner(h http.Handler, logger *slog.Logger) http.Handler {
	self := uint32(os.Getuid())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := r.Context().Value(peerKey{}).(peer)
		if p.err != nil || p.cred == nil {
			logger.Warn("daemon socket: refused a caller whose credentials cannot be read", "err", p.err)
			http.Error(w, "forbidden: cannot tell who is calling", http.StatusForbidden)
			return
		}
		if p.cred.uid != self && p.cred.uid != 0 {
			logger.Warn("daemon socket: refused a caller of another user", "uid", p.cred.uid, "pid", p.cred.pid, "daemon_uid", self)
			http.Error(w, fmt.Sprintf("forbidden: uid %d may not use the daemon of uid %d (only its own user and root may)", p.cred.uid, self), http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Package paths names every location distpac uses under $XDG_DATA_HOME/distpac.
//
// Setting XDG_DATA_HOME to an empty folder isolates everything distpac
// keeps; the tests rely on that. What packages install goes under the
// client's prefix instead (client.yaml, default ~/.local), which an
// isolated client sets too. Nothing here touches the file system except
// EnsureDir.
package paths

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Home is the distpac data directory, $XDG_DATA_HOME/distpac.
type Home struct{ Root string }

// Resolve finds the data directory from the environment: $XDG_DATA_HOME, or
// ~/.local/share when it is unset or empty (XDG Base Directory rules).
func Resolve() (Home, error) {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" || !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil {
			return Home{}, fmt.Errorf("data directory: neither XDG_DATA_HOME nor HOME is set: %w", err)
		}
		base = filepath.Join(home, ".local", "share")
	}
	return Home{Root: filepath.Join(base, "distpac")}, nil
}

// Server is the publisher's layout under Home.
type Server struct{ Dir string }

// Client is the user's layout under Home.
type Client struct{ Dir string }

// Server returns the dist-server layout.
func (h Home) Server() Server { return Server{Dir: filepath.Join(h.Root, "server")} }

// Client returns the dist-client layout.
func (h Home) Client() Client { return Client{Dir: filepath.Join(h.Root, "client")} }

// ServerConfig is the default server.yaml.
func (h Home) ServerConfig() string { return filepath.Join(h.Root, "server.yaml") }

// ClientConfig is the default client.yaml.
func (h Home) ClientConfig() string { return filepath.Join(h.Root, "client.yaml") }

// SigningKey holds the server's ed25519 private key.
func (s Server) SigningKey() string { return filepath.Join(s.Dir, "signing.key") }

// NextSigningKey holds the key a rotation moves to until it is renamed
// over SigningKey (dist-server key rotate).
func (s Server) NextSigningKey() string { return filepath.Join(s.Dir, "signing.key.next") }

// Catalog is the working catalog, written in transactions by add and remove.
// Beside it, catalog.db.checked is its seal (catalog.SnapshotChecked).
func (s Server) Catalog() string { return filepath.Join(s.Dir, "catalog.db") }

// PublicDir holds the published, signed snapshot served to clients.
func (s Server) PublicDir() string { return filepath.Join(s.Dir, "public") }

// Archives holds one NAME-VERSION.tar.zst per published package version.
func (s Server) Archives() string { return filepath.Join(s.Dir, "archives") }

// MirrorCatalog is where dist-server mirror keeps the primary's verified
// catalog (a client's catalog directory: pinned key, sync state, the pair).
func (s Server) MirrorCatalog() string { return filepath.Join(s.Dir, "mirror", "catalog") }

// MirrorPrimaries records the URLs a mirror follows, passwords masked,
// for a start that gives none (server.RememberedPrimaries).
func (s Server) MirrorPrimaries() string { return filepath.Join(s.Dir, "mirror", "primary.json") }

// MirrorArchives holds the archives a mirror downloaded and seeds.
func (s Server) MirrorArchives() string { return filepath.Join(s.Dir, "mirror", "archives") }

// PIDFile names the running server's state file (pid and addresses).
func (s Server) PIDFile() string { return filepath.Join(s.Dir, "server.json") }

// TrackerPeers is where a server stopped cleanly left its tracker's
// peers, read back and removed at the next start (tracker.Restore).
func (s Server) TrackerPeers() string { return filepath.Join(s.Dir, "tracker-peers.jsonl") }

// RunLock is held (flock) by the running server for its whole life.
func (s Server) RunLock() string { return filepath.Join(s.Dir, "server.lock") }

// PublishLock serialises add and remove.
func (s Server) PublishLock() string { return filepath.Join(s.Dir, "publish.lock") }

// Log is where a background server writes its log.
func (s Server) Log() string { return filepath.Join(s.Dir, "server.log") }

// Catalog is the client's verified copy of packages.db.
func (c Client) Catalog() string { return filepath.Join(c.Dir, "packages.db") }

// CatalogSig is the signature that goes with Catalog.
func (c Client) CatalogSig() string { return filepath.Join(c.Dir, "packages.db.sig") }

// SyncState records the ETag and serial of the last sync.
func (c Client) SyncState() string { return filepath.Join(c.Dir, "sync.json") }

// Cache holds downloaded archives (seeded while a client runs).
func (c Client) Cache() string { return filepath.Join(c.Dir, "cache") }

// Packages held extracted packages, one directory per NAME-VERSION, before
// installs streamed from the cached archive; only packages installed then
// may still have one.
func (c Client) Packages() string { return filepath.Join(c.Dir, "pkgs") }

// Installed is the installed-state database (installed.json before it, which
// the first transaction migrates).
func (c Client) Installed() string { return filepath.Join(c.Dir, "installed.db") }

// Staging holds the work directories of transactions (staged trees,
// extracted packages) when the prefix is on the data home's filesystem.
func (c Client) Staging() string { return filepath.Join(c.Dir, "staging") }

// ScriptLog keeps the output of every install and uninstall script, shown
// or not (-q), rotated to ScriptLog()+".1" past a size.
func (c Client) ScriptLog() string { return filepath.Join(c.Dir, "scripts.log") }

// Lock is held by the one process that changes client state.
func (c Client) Lock() string { return filepath.Join(c.Dir, "lock") }

// EnsureDir creates dir (and parents) with private permissions.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, errors.Unwrap(err))
	}
	return nil
}

// DaemonSocket is the unix socket of dist-client daemon.
func (c Client) DaemonSocket() string { return filepath.Join(c.Dir, "daemon.sock") }

// Package servercli is the dist-server command line: one file per command,
// each an options struct, a constructor binding flags and a run function.
package servercli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/safedir"
)

// prog starts every error line ("dist-server: add: …"), the background
// server's in its log too.
const prog = "dist-server"

// Main runs dist-server with args and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	stdio := cli.Stdio{In: stdin, Out: stdout, Err: stderr}
	return cli.Run(ctx, prog, newRoot(stdio), args, stdio)
}

// env is what every command needs: global flags and locations.
type env struct {
	cli.Global
}

// home finds the data directory, makes it, and refuses it when another
// user can change it (safedir): the signing key and the catalog the
// server signs live there. It is checked before it is made and again
// after (safedir.MkdirAll), as the client's is: the check before sees only
// the part of the path that exists, and in a shared sticky directory
// another user could make the rest first. What the commands make in it
// later (public/, archives/, the key) is then in a directory of this
// user's alone.
func (e *env) home() (paths.Home, error) { return e.findHome(true) }

// errNoDataDir: the data directory does not exist yet, for a command that
// only looks or only changes what is there (existingHome).
var errNoDataDir = errors.New("no data directory yet")

// existingHome is home for command, one that only looks (status, list,
// key, stop, completion) or only changes what an earlier add made (remove,
// key rotate): it makes nothing. A data directory that does not exist yet
// is errNoDataDir, named, in command's words, with hint: what to run
// first. status, list and key made it on a fresh data home, and remove and
// key rotate made it before saying there was nothing to remove or rotate.
func (e *env) existingHome(command, hint string) (paths.Home, error) {
	h, err := e.findHome(false)
	if errors.Is(err, errNoDataDir) {
		err = cli.WithHint(fmt.Errorf("%s: %w", command, err), hint)
	}
	return h, err
}

// findHome is home, or without create the check of existingHome.
func (e *env) findHome(create bool) (paths.Home, error) {
	h, err := paths.Resolve()
	if err != nil {
		return h, err
	}
	s, chk := h.Server(), safedir.New()
	if create {
		err = chk.MkdirAll("data directory", s.Dir, 0o755)
	} else if err = chk.Check("data directory", s.Dir); err == nil {
		if _, serr := os.Stat(s.Dir); errors.Is(serr, fs.ErrNotExist) {
			err = fmt.Errorf("%w at %s (nothing was added or started with this data home)", errNoDataDir, s.Dir)
		}
	}
	if err != nil {
		return h, err
	}
	// A mirror's catalog directory holds the key it pins, as a client's
	// does: it was not checked.
	if err := chk.CheckAll("data directory", s.PublicDir(), s.Archives(), s.MirrorCatalog(), s.MirrorArchives()); err != nil {
		return h, err
	}
	return h, checkFiles(chk, s)
}

// checkFiles refuses a file of the data directory that the server trusts
// when another user could change it, as the client refuses its own
// (clientcli's checkFiles): its directory is the server's own (findHome),
// but only the directories were checked. A 0666 catalog.db let another
// user change a package's row, which the next publication signed without
// a word (an attacker's run: a description rewritten in place, seen by
// every client after its next sync); its rollback journal, replayed at
// the next open after a crash, and its seal (catalog.db.checked: a forged
// one skips the check of rows changed by hand) are held to the same rule,
// and so are the key a mirror pins and its sync state. The signing key
// must also be private, which publish checks where it reads it.
func checkFiles(c *safedir.Checker, s paths.Server) error {
	db := s.Catalog()
	for _, f := range append([]string{db, db + "-journal", db + ".checked"}, catalogclient.TrustedFiles(s.MirrorCatalog())...) {
		if err := c.CheckFile("data file", f); err != nil {
			return err
		}
	}
	return nil
}

// config loads server.yaml: the --config file (which must exist) or the
// default one (optional).
func (e *env) config() (*config.Server, paths.Server, error) {
	h, err := e.home()
	if err != nil {
		return nil, paths.Server{}, err
	}
	return e.loadConfig(h)
}

// inspect is config for command, one that makes no data directory (existingHome).
func (e *env) inspect(command, hint string) (*config.Server, paths.Server, error) {
	h, err := e.existingHome(command, hint)
	if err != nil {
		return nil, h.Server(), err
	}
	return e.loadConfig(h)
}

// loadConfig loads the configuration of the data home h.
func (e *env) loadConfig(h paths.Home) (*config.Server, paths.Server, error) {
	path, optional := e.Config, false
	if path == "" {
		path, optional = h.ServerConfig(), true
	}
	// The configuration names the trackers and addresses the server
	// signs into every torrent: another user must not be able to change it.
	if err := safedir.New().CheckFile("configuration", path); err != nil {
		return nil, h.Server(), err
	}
	c, err := config.LoadServer(path, optional)
	return c, h.Server(), err
}

// configFile is the configuration file config reads (--config, or
// server.yaml in the data directory) and whether it exists; "" when the
// data directory cannot be found.
func (e *env) configFile() (path string, exists bool) {
	path = e.Config
	if path == "" {
		h, err := e.home()
		if err != nil {
			return "", false
		}
		path = h.ServerConfig()
	}
	_, err := os.Stat(path)
	return path, err == nil
}

func newRoot(stdio cli.Stdio) *cobra.Command {
	e := &env{}
	root := &cobra.Command{
		Use:   "dist-server",
		Short: "Publish packages over BitTorrent: catalog, tracker and seeder in one binary",
		Long: `dist-server turns package directories into reproducible archives and torrents,
records them in a signed SQLite catalog, seeds them, runs a BitTorrent tracker and
serves the catalog over HTTP.

Everything lives under $XDG_DATA_HOME/distpac (default ~/.local/share/distpac);
the configuration is server.yaml there, or the file given with --config.`,
		Example: `  dist-server add ./hello ./libgreet-1.0.0
  dist-server start
  dist-server status
  dist-server stop`,
		// No Args here: cobra then reports an unknown command as a usage
		// error (exit 2); with Args set, a root without RunE prints help
		// and exits 0 for any argument.
	}
	e.Bind(root, stdio, "server.yaml")
	root.AddCommand(newAdd(e), newRemove(e), newRepublish(e), newStart(e), newStop(e), newStatus(e), newList(e), newKey(e), newMirror(e))
	cli.NoFileCompletion(root)
	return root
}

// saidRaise tells the user that the working catalog's serial was raised
// above the one published (a backup of catalog.db restored): the server
// logs it, and a command's logger shows errors only.
func (e *env) saidRaise(catalogSerial, published, serial int64) {
	e.UI.Warnf("catalog.db is at serial %d, below serial %d published (a backup restored?): raised to serial %d, since clients refuse a lower serial\n",
		catalogSerial, published, serial)
}

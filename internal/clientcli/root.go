// Package clientcli is the dist-client command line: one file per command,
// each an options struct, a constructor binding flags and a run function.
package clientcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/install"
	"github.com/distpac/distpac/internal/installed"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/procs"
	"github.com/distpac/distpac/internal/safedir"
)

// Main runs dist-client with args and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	stdio := cli.Stdio{In: stdin, Out: stdout, Err: stderr}
	return cli.Run(ctx, "dist-client", newRoot(stdio), args, stdio)
}

type env struct {
	cli.Global
	// calledAs is the name the running command was called by, when it has
	// aliases (remove for uninstall): the history records what the user
	// typed.
	calledAs string
	// placing is set by the commands that place or remove files under the
	// prefix (install, upgrade, uninstall: placer), which refuse a prefix
	// another user can change; the others only warn of it (config).
	placing bool
	// prefixErr is what config found wrong with the prefix.
	prefixErr error
	// loaded is config's result, read once a command: list read
	// client.yaml and checked the data directory three times.
	loaded *loadedConfig
}

// loadedConfig is what config returned, and the client.yaml it read (it
// may not exist: then the defaults held).
type loadedConfig struct {
	c    *config.Client
	cp   paths.Client
	path string
	err  error
}

// config loads client.yaml: the --config file (which must exist) or the
// default one (optional). It refuses a data directory, or a file there
// that the client trusts, that another user can change (checkDirs,
// checkFiles); a prefix others can change is refused by the commands that
// place or remove files there (placer, and internal/install for the
// prefixes packages were recorded in) and only warned of here: list,
// search, info, sync write nothing there, and they failed too when every
// command refused it (a review). It reads and checks once a command, and
// gives the same answer after (nothing of the command writes client.yaml).
func (e *env) config() (*config.Client, paths.Client, error) {
	if e.loaded == nil {
		l := &loadedConfig{}
		l.c, l.cp, l.path, l.err = e.loadConfig()
		e.loaded = l
	}
	return e.loaded.c, e.loaded.cp, e.loaded.err
}

// loadConfig is config's work; path is the client.yaml read.
func (e *env) loadConfig() (*config.Client, paths.Client, string, error) {
	h, err := paths.Resolve()
	if err != nil {
		return nil, paths.Client{}, "", err
	}
	path, optional := e.configFile(h)
	cp, chk := h.Client(), safedir.New()
	// The configuration names the servers and their key, so what is
	// installed and run: another user must not be able to change it (a
	// review: a 0666 client.yaml, or --config in a 0777 directory, passed).
	if err := chk.CheckFile("configuration", path); err != nil {
		return nil, cp, "", err
	}
	c, err := config.LoadClient(path, optional)
	if err != nil {
		return nil, paths.Client{}, "", err
	}
	if hasPassword(c.Servers()) {
		if msg := readableByOthers(path, serversKey(c)); msg != "" {
			e.UI.Warnf("%s\n", msg)
		}
	}
	// Checked before the mkdir and after it (safedir.MkdirAll).
	if err := chk.MkdirAll("data directory", cp.Dir, 0o755); err != nil {
		return nil, cp, path, err
	}
	if err := checkDirs(chk, cp); err != nil {
		return nil, cp, path, err
	}
	if err := checkFiles(chk, cp); err != nil {
		return nil, cp, path, err
	}
	e.prefixErr = install.CheckPrefix(chk, c.Prefix)
	if e.prefixErr != nil && !e.placing {
		e.UI.Warnf("%v; install, upgrade and uninstall refuse it until then\n", e.prefixErr)
	}
	return c, cp, path, nil
}

// readableByOthers says, when the configuration file at path, which
// holds a password (in key, server_url or server_urls: user:password@), is the running user's
// and other users can read it, what to do; "" otherwise. A warning, not a
// refusal as for a file others can write (ssh refuses a private key
// others can read, but a system-wide client.yaml of root's is read by
// every user who shares it): the password is the user's to guard, and
// distpac writes it nowhere else (redact). Read by its group counts
// unless the group is the user's private one: a 0640 client.yaml of
// root's in a group of other users (adm, staff) gave them the password
// without a word.
func readableByOthers(path, key string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Getuid() {
		return ""
	}
	by := safedir.New().ReadableBy(fi)
	switch {
	case by == "":
		return ""
	case fi.Mode().Perm()&0o004 != 0: // not the words: a group may be named "others"
		by = "every user"
	}
	return fmt.Sprintf("%s holds a password (in %s) and %s can read it (mode %04o): chmod 600 %s",
		path, key, by, fi.Mode().Perm(), path)
}

// checkDirs refuses a data directory that another user can change
// (safedir): the client directory and what it keeps in folders of its
// own. About a dozen lstats in all, with checkFiles and install.CheckPrefix: c
// checks the ancestors they share once.
func checkDirs(c *safedir.Checker, cp paths.Client) error {
	return c.CheckAll("data directory", cp.Dir, cp.Staging(), cp.Cache(), cp.Packages())
}

// checkFiles refuses a file of the data directory that the client trusts
// when another user could change it: its directory is the client's own
// (checkDirs), but a 0666 installed.db there lets anyone plant records
// and the journal of an interrupted transaction, whose rollback renames
// and deletes what they chose (an attack run did so through a 0777
// directory), and a writable pinned key or catalog, the packages they
// choose. The -wal file holds committed transactions and the -shm file
// indexes them: SQLite gives them the database's mode, and they are held
// to the same rule.
func checkFiles(c *safedir.Checker, cp paths.Client) error {
	db := cp.Installed()
	for _, f := range append([]string{db, db + "-wal", db + "-shm"}, catalogclient.TrustedFiles(cp.Dir)...) {
		if err := c.CheckFile("data file", f); err != nil {
			return err
		}
	}
	return nil
}

// configFile is the client.yaml in force: the --config file, or the
// default one in h, which is optional.
func (e *env) configFile(h paths.Home) (path string, optional bool) {
	if e.Config != "" {
		return e.Config, false
	}
	return h.ClientConfig(), true
}

// configPath is the client.yaml in force; missing is set when it is the
// default one and does not exist, so that the defaults hold.
func (e *env) configPath() (path string, missing bool) {
	h, err := paths.Resolve()
	if err != nil {
		return "client.yaml", false
	}
	path, optional := e.configFile(h)
	_, err = os.Stat(path)
	return path, optional && errors.Is(err, fs.ErrNotExist)
}

// installer is the client of the commands that work on installed
// packages. They run on one processor except while they extract an
// archive, hash a staged tree or run an engine of their own (procs' doc:
// an install through the daemon spends less CPU so).
func (e *env) installer() (*install.Client, error) {
	procs.Serial()
	cfg, cp, err := e.config()
	if err != nil {
		return nil, err
	}
	// The path config read, not configPath's: that resolves the data home
	// and stats the file again, on the start of every install.
	return &install.Client{Paths: cp, Config: cfg, UI: e.UI, Logger: e.Logger, CalledAs: e.calledAs, ConfigFile: e.loaded.path}, nil
}

// reader reads what is installed (files, owner, verify, history): no lock,
// no network; on one processor, as the installer.
func (e *env) reader() (*installed.Reader, error) {
	procs.Serial()
	_, cp, err := e.config()
	if err != nil {
		return nil, err
	}
	return &installed.Reader{Paths: cp, Logger: e.Logger}, nil
}

// placer is the installer of a command that places or removes files under
// the prefix (install, upgrade, uninstall): a prefix another user can
// change is refused before anything is read or made, as ssh's StrictModes
// refuses a ~/.ssh others can write; what moves there, as this user, would
// go where they say. The prefixes packages were recorded in, and those an
// interrupted transaction moved files in, internal/install checks itself.
func (e *env) placer() (*install.Client, error) {
	e.placing = true
	in, err := e.installer()
	if err != nil {
		return nil, err
	}
	if e.prefixErr != nil {
		return nil, e.prefixErr
	}
	return in, nil
}

func newRoot(stdio cli.Stdio) *cobra.Command {
	e := &env{}
	root := &cobra.Command{
		Use:   "dist-client",
		Short: "Install packages whose payloads travel over BitTorrent",
		Long: `dist-client syncs a signed package catalog from a dist-server, resolves versions and
dependencies, downloads archives from the server and from other clients at once over
BitTorrent, verifies them and runs their install scripts.

Everything lives under $XDG_DATA_HOME/distpac (default ~/.local/share/distpac);
the configuration is client.yaml there, or the file given with --config. Packages
install under its prefix (default ~/.local): an instance isolated with XDG_DATA_HOME
sets prefix in that client.yaml too, or moves both with HOME (XDG_DATA_HOME unset).`,
		Example: `  dist-client sync
  dist-client install hello
  dist-client list --installed
  dist-client uninstall hello`,
		// No Args here: cobra then reports an unknown command as a usage
		// error (exit 2); with Args set, a root without RunE prints help
		// and exits 0 for any argument.
	}
	e.Bind(root, stdio, "client.yaml")
	root.AddCommand(newSync(e), newInstall(e), newUninstall(e), newList(e), newSearch(e), newInfo(e), newUpgrade(e), newClean(e), newDaemon(e), newTrust(e), newStatus(e))
	root.AddCommand(newFiles(e), newOwner(e), newVerify(e), newHistory(e), newMark(e), newHold(e, true), newHold(e, false), newRecover(e))
	cli.NoFileCompletion(root)
	recordCalledAs(e, root)
	return root
}

// recordCalledAs has every command with aliases note the name it was
// called by in e.calledAs, so that the history records `remove hello` as
// typed, not as `uninstall hello` (pacman.log and apt's history.log keep
// the command line the user gave).
func recordCalledAs(e *env, root *cobra.Command) {
	for _, c := range root.Commands() {
		if run := c.RunE; run != nil && len(c.Aliases) > 0 {
			c.RunE = func(cmd *cobra.Command, args []string) error {
				e.calledAs = cmd.CalledAs()
				return run(cmd, args)
			}
		}
	}
}

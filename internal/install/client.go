// Package install carries out what dist-client is asked to change, as one
// transaction per command: it resolves a plan (plan.go), checks free space
// and downloads every archive at once (space.go, internal/fetch), stages every
// package (internal/stage), checks the staged trees for conflicts and
// places them with one journaled step (internal/place), and commits the
// records, their files and the history entry in one state transaction
// (internal/state). A failure at any point, a full disk included, rolls
// back to the state before the command; a kill -9 is rolled back (or
// finished, after the commit) by the next command that takes the lock.
package install

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/fetch"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/script"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/ui"
)

// Client changes one client's installed state.
type Client struct {
	Paths  paths.Client
	Config *config.Client
	UI     *ui.Printer
	Logger *slog.Logger
	// StallTimeout fails downloads whose sources send under 1 KiB/s for
	// this long (fetch.Options.StallTimeout).
	StallTimeout time.Duration
	// ConfigFile is the client.yaml in force ("", or a file that does not
	// exist: none), for the warning about a daemon started before it
	// changed (fetch.Options.ConfigFile).
	ConfigFile string
	// Overwrite lists globs of unowned files in the prefix that an install
	// may replace (pacman's --overwrite).
	Overwrite []string
	// SkipUninstallScript leaves out the installed versions' uninstall.sh
	// when they are removed or replaced: the way past a script that fails
	// (the files the package placed are still removed).
	SkipUninstallScript bool
	// ScriptTimeout bounds each install or uninstall script (0: the
	// script package's default).
	ScriptTimeout time.Duration
	// Report is the transfer report of the last install or upgrade that
	// downloaded (set by it; nil before).
	Report *fetch.Report
	// Last is what the last install, upgrade or uninstall did (for
	// --json).
	Last *Summary
	// RemovalPlan is what an uninstall with DryRun would remove (for
	// --json), or why it would be refused.
	RemovalPlan *RemovalPlan
	// Reinstall makes Install install again the named packages that are
	// installed at the version it would keep.
	Reinstall bool
	// Confirm, when set, is asked before a plan that downloads more than
	// confirmDownload or removes packages not named; false stops it.
	Confirm func(question string) (bool, error)
	// WarnExpired makes a command that reads the catalog (install,
	// upgrade) warn when it is past its valid_until: it carries on from it
	// (catalogclient.CheckExpiry says why), but may be missing updates.
	// The check reads the catalog the command opens anyway: a second open
	// of its own (SQLite reads and parses the schema at every open) was
	// 4.5 % of the CPU samples of a small install before its download
	// (perf, 2026-12-04), about 2 ms.
	WarnExpired bool
	// DryRun makes Install plan and probe the sources only; DryRunResult
	// is then what the probe found.
	DryRun       bool
	DryRunResult *DryRun
	// CalledAs is the name the user called the command by, when it was
	// an alias (remove for uninstall): the history records the command as
	// typed, as pacman.log and apt's history.log keep the command line.
	// Empty: the command's own name.
	CalledAs string
	// hook, set by tests, runs at named steps of a transaction; an error
	// from it fails the step as a full disk would.
	hook func(step string) error
	// source, set by tests, replaces the daemon or engine downloads come
	// from.
	source fetch.Source
	// scripts is the script log, made on first use (scriptLog).
	scripts *script.Log
}

// commandLine is a command as the history records it: the name it was
// called by (CalledAs, else name), then its words.
func (c *Client) commandLine(name string, words ...string) string {
	if c.CalledAs != "" {
		name = c.CalledAs
	}
	return strings.Join(append([]string{name}, words...), " ")
}

// Lock takes the client lock, telling the user when it has to wait.
func (c *Client) Lock(ctx context.Context) (*state.Lock, error) {
	return state.Acquire(ctx, c.Paths.Lock(), func(pid int) {
		who := "another dist-client"
		if pid > 0 {
			who = fmt.Sprintf("another dist-client (pid %d)", pid)
		}
		c.UI.Warnf("%s is changing this installation; waiting for it to finish...\n", who)
	})
}

// txn is one command that changes client state: the lock, the catalog, the
// state database and the command's history entry, held from begin to end.
type txn struct {
	lock *state.Lock
	db   *catalog.DB // nil when the command needs no catalog
	st   *state.DB
	recs *state.State
	hist int64
	// acted is set (act) when the command sets out to change something:
	// downloads, scripts, the prefix or the records. An entry whose
	// command stopped before (nothing to do, a name not found or not
	// installed, a plan refused, a question declined) is dropped at end:
	// like pacman's and apt's logs, the history lists transactions, and
	// four of five entries of a newcomer's session were "install
	// nosuch: failed" or "upgrade: ok" with nothing done.
	acted   bool
	changes []state.HistoryChange
	// downloaded and installed are the command's bytes, and report its
	// transfer report, for the history.
	downloaded, installed int64
	report                *fetch.Report
	// kept are the packages the plan left below their newest version.
	kept []KeptBack
	// already are the packages asked for that were installed and that
	// the plan leaves as they are ("name version").
	already []string
	// scripts are the notes of the scripts the command started
	// (noteScript): its commit settles them, a rollback once it undid
	// what they did, and end any left.
	scripts []int64
	// marks is where the scripts' processes mark their starts
	// (state.OpenMarks), opened for the first (noteScript).
	marks *os.File
	// ui and log report what end's Reclaim did.
	ui  *ui.Printer
	log *slog.Logger
}

// owners looks up, for place.Prepare, which packages other than those in
// skip record the paths a transaction asks about.
func (t *txn) owners(ctx context.Context, skip map[string]bool) func([]string) (map[string]state.Owner, error) {
	return func(abs []string) (map[string]state.Owner, error) { return t.st.OwnersOf(ctx, skip, abs) }
}

// named looks up, for place.Prepare, the paths that packages other than
// those in skip record under the last elements asked.
func (t *txn) named(ctx context.Context, skip map[string]bool) func([]string) (map[string]state.Owner, error) {
	return func(bases []string) (map[string]state.Owner, error) { return t.st.OwnersNamed(ctx, skip, bases) }
}

// begin takes the lock, opens the state (migrating installed.json), rolls
// back or finishes a transaction a crash left, opens the catalog when asked
// and starts the history entry of command.
func (c *Client) begin(ctx context.Context, command string, withCatalog bool) (*txn, error) {
	lock, err := c.Lock(ctx)
	if err != nil {
		return nil, err
	}
	t := &txn{lock: lock, ui: c.UI, log: c.logger()}
	if err := c.open(ctx, t, command, withCatalog); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

func (c *Client) open(ctx context.Context, t *txn, command string, withCatalog bool) (err error) {
	if t.st, err = state.Open(ctx, c.Paths.Installed(), c.Config.Prefix); err != nil {
		return err
	}
	rec, err := c.recover(ctx, t.st)
	switch {
	case rec.Result == RecoveryFinished && !rec.leftover:
		c.UI.Warnf("finished cleaning up after an interrupted dist-client (its changes were committed)\n")
	case rec.Result == RecoveryRolledBack:
		c.UI.Warnf("rolled back the changes of an interrupted dist-client\n")
	}
	for _, s := range rec.Scripts {
		c.UI.Warnf("%s\n", s.Said)
	}
	if err != nil {
		return err
	}
	if t.recs, err = t.st.State(ctx); err != nil {
		return err
	}
	if withCatalog {
		if t.db, err = catalogclient.Open(ctx, c.Paths.Dir); err != nil {
			return err
		}
		if c.WarnExpired {
			if err := catalogclient.CheckExpiry(ctx, t.db, time.Now()); errors.Is(err, catalogclient.ErrExpired) {
				c.UI.Warnf("%v; it may be missing updates\n", err)
			}
		}
	}
	t.log.Debug("opened the installed state", "path", t.st.Path(), "prefix", c.Config.Prefix, "installed", len(t.recs.Packages))
	if command != "" {
		t.hist, err = t.st.StartHistory(ctx, command)
	}
	return err
}

// Summary is what one install or upgrade did: `install --json`.
type Summary struct {
	Changes    []state.HistoryChange `json:"changes"`
	Downloaded int64                 `json:"downloaded_bytes"`
	Installed  int64                 `json:"installed_bytes"`
	Transfer   *fetch.Report         `json:"transfer"`
	// KeptBack lists the packages the plan left below the newest version
	// the catalog has, and why (keptback.go).
	KeptBack []KeptBack `json:"kept_back,omitempty"`
	// AlreadyInstalled lists the packages asked for that were installed
	// already and left as they were ("hello 1.0.0"), which the text output
	// says one a line: --json said only "changes": [] (a newcomer's run).
	AlreadyInstalled []string `json:"already_installed,omitempty"`
	// NoLongerNeeded lists, after an uninstall without --cascade, the
	// packages installed as dependencies that nothing needs any more.
	NoLongerNeeded []string `json:"no_longer_needed,omitempty"`
	Error          string   `json:"error,omitempty"`
	// Hint is the advice under the error line on stderr (set by the
	// command line).
	Hint string `json:"hint,omitempty"`
}

func (t *txn) summary(err error) *Summary {
	s := &Summary{Changes: t.changes, Downloaded: t.downloaded, Installed: t.installed, Transfer: t.report, KeptBack: t.kept, AlreadyInstalled: t.already}
	if s.Changes == nil {
		s.Changes = []state.HistoryChange{}
	}
	if err != nil {
		s.Error = err.Error()
	}
	return s
}

// act marks the command as one that changes something: its history entry
// stays, however it ends.
func (t *txn) act() { t.acted = true }

// end records how the command ended in its history entry (unless a commit
// already did), or drops the entry of a command that did nothing (acted),
// and releases everything.
func (t *txn) end(ctx context.Context, err error) {
	// Committed or rolled back by now, whichever way the command ended:
	// a note left would have the next command undo what is installed.
	t.settleScripts(ctx, t.scripts...)
	if t.hist != 0 && !t.acted && len(t.changes) == 0 {
		// A dropped entry is not worth a failure of the command.
		t.st.DropHistory(context.WithoutCancel(ctx), t.hist)
		t.close()
		return
	}
	if t.hist != 0 {
		end := t.historyEnd(state.ResultOK)
		switch {
		case err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled):
			// Ctrl-C or a signal (cli.Run cancels the command's context):
			// not a failure of the transaction.
			end.Result, end.Error = state.ResultInterrupted, "interrupted by a signal"
		case err != nil:
			end.Result, end.Error = state.ResultFailed, err.Error()
		}
		// The history is a log; a full disk here must not hide the
		// command's own error.
		t.st.FinishHistory(context.WithoutCancel(ctx), end)
		if ctx.Err() == nil {
			t.reclaim(ctx)
		}
	}
	t.close()
}

// reclaim gives back the space the command's removals freed in the state
// database, after its last commit and under the lock (state.Reclaim says
// when and what it costs). A command that is not recorded (a dry run)
// changes nothing, this included.
func (t *txn) reclaim(ctx context.Context) {
	start := time.Now()
	freed, err := t.st.Reclaim(ctx)
	switch {
	case err != nil:
		// The command's changes are committed; only the space waits
		// for a later command.
		t.ui.Warnf("%v (a later command tries again)\n", err)
	case freed > 0:
		t.log.Debug("compacted the installed state", "path", t.st.Path(), "freed_bytes", freed, "took", time.Since(start))
	}
}

func (t *txn) close() {
	if t.marks != nil {
		t.marks.Close()
	}
	if t.db != nil {
		t.db.Close()
	}
	if t.st != nil {
		t.st.Close()
	}
	t.lock.Release()
}

// historyEnd is the history update that goes with a commit.
func (t *txn) historyEnd(result string) state.HistoryEnd {
	end := state.HistoryEnd{ID: t.hist, Result: result, Changes: t.changes, Downloaded: t.downloaded, Installed: t.installed}
	if t.report != nil {
		end.Transfer, _ = json.Marshal(t.report)
	}
	return end
}

// bounds are where this client's journals may move files (the records'
// prefixes added by the state): a journal outside them is refused.
func (c *Client) bounds(prefixes ...string) state.Bounds {
	return state.Bounds{Staging: c.Paths.Staging(), Prefixes: append([]string{c.Config.Prefix}, prefixes...)}
}

// stagingRoots are the places a transaction's work directory can be: the
// data home's staging, and the prefix's when the two are on different
// filesystems.
func (c *Client) stagingRoots() []string {
	return []string{c.Paths.Staging(), filepath.Join(c.Config.Prefix, state.StagingDirName)}
}

// txnPrefix starts the names of this data home's work directories: "txn-"
// and a short hash of the data home, so that recovery in a staging folder
// another data home shares (the prefix's) takes only its own.
func (c *Client) txnPrefix() string {
	dir := c.Paths.Dir
	if d, err := filepath.Abs(dir); err == nil {
		dir = d
	}
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	sum := sha256.Sum256([]byte(dir))
	return "txn-" + hex.EncodeToString(sum[:4]) + "-"
}

// step runs the test hook, if any, at a named step.
func (c *Client) step(name string) error {
	if c.hook == nil {
		return nil
	}
	return c.hook(name)
}

// logger is the client's Logger, or one that discards when it has none.
func (c *Client) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

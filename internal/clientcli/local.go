package clientcli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/manifest"
	"github.com/distpac/distpac/internal/resolve"
	"github.com/distpac/distpac/internal/script"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/suggest"
)

// open gives the synced catalog and the installed state, both read-only.
// Without a catalog it returns the state and catalogclient.ErrNoCatalog.
func (e *env) open(ctx context.Context) (*catalog.DB, *state.State, error) {
	st, err := e.installed()
	if err != nil {
		return nil, nil, err
	}
	_, cp, err := e.config()
	if err != nil {
		return nil, nil, err
	}
	db, err := catalogclient.Open(ctx, cp.Dir)
	if err != nil {
		return nil, st, err
	}
	return db, st, nil
}

// installed reads the installed records (read-only; changes go through
// internal/install under the client lock).
func (e *env) installed() (*state.State, error) {
	_, cp, err := e.config()
	if err != nil {
		return nil, err
	}
	return state.Load(cp.Installed())
}

// catalogNames lists the synced catalog's package names; nil when there is
// no catalog or it cannot be read (hints and completion then offer nothing).
func (e *env) catalogNames(ctx context.Context) []string {
	_, cp, err := e.config()
	if err != nil {
		return nil
	}
	db, err := catalogclient.Open(ctx, cp.Dir)
	if err != nil {
		return nil
	}
	defer db.Close()
	names, err := db.Names(ctx)
	if err == nil && names == nil {
		return []string{} // an empty catalog: every name is unknown
	}
	return names
}

// maxSuggestions is how many names a "did you mean" hint offers.
const maxSuggestions = 3

// unknownHint builds the hint for requested names that are not among known:
// "did you mean hello?" for one, "helo: did you mean hello?; ..." for more.
// ok is false when every requested name is known. fallback follows the
// suggestions, or stands alone when there are none.
func unknownHint(requests []string, known []string, fallback string) (hint string, ok bool) {
	var unknown []string
	for _, r := range requests {
		// A request whose constraint is bad ("hello@bogus") still names a
		// package: its error is the constraint's, with no name to suggest.
		name, _, _ := strings.Cut(strings.TrimSpace(r), "@")
		if req, err := manifest.ParseRequest(r); err == nil {
			name = req.Name
		}
		if !containsFold(known, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return "", false
	}
	var parts []string
	for _, n := range unknown {
		p := suggest.Phrase(suggest.Closest(n, known, maxSuggestions))
		if p == "" {
			continue
		}
		if len(unknown) > 1 {
			p = n + ": " + p
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return fallback, true
	}
	return strings.Join(parts, "; ") + " (" + fallback + ")", true
}

// withCatalogHint adds a hint to err when some of the requested packages
// are not in the catalog: the closest names it has, and when it was synced
// (catalogHint). An error that carries a hint already keeps it.
func (e *env) withCatalogHint(ctx context.Context, err error, requests []string) error {
	var h *cli.Hinted
	if err == nil || errors.As(err, &h) {
		return err
	}
	names := e.catalogNames(ctx)
	if names == nil {
		return err
	}
	if hint, ok := catalogHint(requests, names, e.syncedAt(ctx), time.Now()); ok {
		return cli.WithHint(err, hint)
	}
	// A dependency the catalog lacks may have been published since, and
	// so may a version none the catalog has matches (hello@1.6.0, just
	// published): the newcomer's run had no hint for it, while a lagging
	// mirror's catalog was why.
	var x *resolve.Explanation
	var nm noMatch
	note := syncedNote(e.syncedAt(ctx), time.Now())
	if note == "" {
		return err
	}
	if errors.As(err, &x) && (x.Missing != "" || x.Unmatched != "") || errors.As(err, &nm) {
		return cli.WithHint(err, note)
	}
	// So may a version whose script does not fail (a newcomer's run
	// installed a broken version again before a sync, with no word of one).
	var se *script.Error
	if errors.As(err, &se) {
		return cli.WithHint(err, "a fixed version may be published since: "+note)
	}
	return err
}

// catalogHint is the hint for requested names the synced catalog (whose
// names are known) lacks: the closest names it has, and, since the
// publisher may have added them after the last sync, when that was and
// what fetches the newest (syncedNote). ok is false when every name is
// known.
// Behind a lagging mirror (synced.Behind) the catalog's age is the likely
// cause, and the hint is that alone unless a close name is suggested.
func catalogHint(requests, known []string, synced lastSync, now time.Time) (hint string, ok bool) {
	const search = "dist-client search TERM finds packages"
	hint, ok = unknownHint(requests, known, search)
	if !ok {
		return "", false
	}
	note := syncedNote(synced, now)
	if hint == search && len(synced.Behind) > 0 {
		return note, true
	}
	return withSyncedNote(hint, note), true
}

// withSyncedNote is s and, when there is one, the syncedNote note after
// it.
func withSyncedNote(s, note string) string {
	if note == "" {
		return s
	}
	return s + "; " + note
}

// recentSync is how long after a sync the hints leave out that a sync
// fetches the newest catalog: a minute, the interval at which a mirror
// follows its primary (server.DefaultMirrorInterval), so the servers
// have most likely nothing newer yet; and the time in which a user who
// just ran sync still remembers it. Past it, the hint says when the sync
// was and that another fetches the newest.
const recentSync = time.Minute

// lastSync is what sync.json and servers.json say of the last sync: when
// (zero: unknown), the server the catalog came from, and the servers
// listed before it that it passed over for having failed a sync lately.
type lastSync struct {
	At     time.Time
	From   string
	Behind []catalogclient.Demoted
}

// syncedNote says when the synced catalog was fetched and that dist-client
// sync fetches the newest, for a name or a term it lacks: sync.json knows
// when (zero synced: it does not say). When that sync took a mirror's
// catalog, passing over the primary listed before it (down a few minutes
// before), a sync now would take the mirror's again: a publisher's package
// added since was "not in the catalog" and the hint's sync, run at once,
// fetched the same catalog (a run on a network of hosts: the primary
// back up, its mirror a minute behind). It then says so, and what takes
// the newest now, in few words: with the date, the time a plain sync
// takes the mirror's again until and why, an install's hint ran to 370
// characters.
//
// It is "" (nothing to say) within recentSync of a sync that passed no
// server over: a sync then would most likely fetch the same catalog, and
// the advice to run one, right after `sync && install`, was noise (a
// newcomer's run: "the catalog was last synced 1s ago").
func syncedNote(synced lastSync, now time.Time) string {
	if synced.At.IsZero() {
		return "dist-client sync fetches the newest catalog"
	}
	if len(synced.Behind) == 0 && !synced.At.After(now) && now.Sub(synced.At) < recentSync {
		return ""
	}
	note := fmt.Sprintf("the catalog was last synced %s ago (%s)", ago(now, synced.At), synced.At.Local().Format(time.DateTime))
	if len(synced.Behind) == 0 {
		return note + ": dist-client sync fetches the newest"
	}
	urls := make([]string, len(synced.Behind))
	for i, d := range synced.Behind {
		urls[i] = d.URL
	}
	why := "passed over after a failed sync"
	if len(urls) > 1 {
		why = "passed over after failed syncs"
	}
	return fmt.Sprintf("the catalog came %s ago from %s, which may lag behind %s, %s: dist-client sync --from %s syncs from it now",
		ago(now, synced.At), synced.From, strings.Join(urls, " and "), why, urls[0])
}

// syncedAt is what is known of the last sync of the catalog held (a zero
// At when unknown).
func (e *env) syncedAt(ctx context.Context) lastSync {
	cfg, cp, err := e.config()
	if err != nil {
		return lastSync{}
	}
	st, err := catalogclient.ReadStatus(ctx, cp.Dir, time.Now())
	if err != nil {
		return lastSync{}
	}
	return lastSync{At: st.SyncedAt, From: st.ServerURL, Behind: catalogclient.PassedOver(cp.Dir, cfg.Servers(), st.ServerURL, time.Now())}
}

// installedArgs checks the arguments of a command that takes names of
// installed packages (uninstall, upgrade, files, verify, mark, hold,
// unhold): their number as cli.Args does, and that none has an @VERSION.
// One version of a name is installed at a time, so these commands take
// the name alone, and NAME@VERSION is a usage error saying what to write:
// `uninstall big@1.0.0` with big 1.0.0 installed said "big@1.0.0: not
// installed" (a newcomer's run), where apt remove takes big=1.0.0.
func installedArgs(min, max int, what string) cobra.PositionalArgs {
	count := cli.Args(min, max, what)
	return func(cmd *cobra.Command, args []string) error {
		if err := count(cmd, args); err != nil {
			return err
		}
		verb := cmd.CalledAs() // remove, for uninstall called so
		if verb == "" {
			verb = cmd.Name()
		}
		for _, a := range args {
			name, _, ok := strings.Cut(a, "@")
			if !ok || name == "" {
				continue
			}
			if verb == "upgrade" {
				return cli.Usagef("%q: upgrade takes installed package names without a version: write %s (it moves to the newest version allowed); dist-client install %s installs that version", a, name, a)
			}
			return cli.Usagef("%q: %s takes installed package names without a version: write %s", a, verb, name)
		}
		return nil
	}
}

// withInstalledHint adds a hint to an state.ErrNotInstalled: the closest
// installed names, or where to see them.
func (e *env) withInstalledHint(err error, requests []string) error {
	if !errors.Is(err, state.ErrNotInstalled) {
		return err
	}
	const fallback = "dist-client list --installed shows what is installed"
	st, serr := e.installed()
	if serr != nil {
		return cli.WithHint(err, fallback)
	}
	var names []string
	for _, r := range st.Sorted() {
		names = append(names, r.Name)
	}
	if hint, ok := unknownHint(requests, names, fallback); ok {
		return cli.WithHint(err, hint)
	}
	return cli.WithHint(err, fallback)
}

func containsFold(names []string, name string) bool {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// noSuchPackage is the error for a name the catalog lacks.
func noSuchPackage(name string) error {
	return fmt.Errorf("no package named %q in the catalog", name)
}

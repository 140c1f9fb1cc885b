package install

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/manifest"
	"github.com/distpac/distpac/internal/resolve"
	"github.com/distpac/distpac/internal/state"
)

// Upgradable lists what an upgrade of everything would move: installed
// packages the catalog has newer allowed versions of, as the resolver
// would move them, but for the held ones, which upgrade leaves (and names);
// held lists those of them that have newer versions, kept those the
// upgrade leaves below their newest version because that version cannot
// be had (keptback.go).
func (c *Client) Upgradable(ctx context.Context) (moves, held []resolve.Step, kept []KeptBack, err error) {
	// A read: no lock, so it works while another dist-client installs.
	db, err := catalogclient.Open(ctx, c.Paths.Dir)
	if err != nil {
		return nil, nil, nil, err
	}
	defer db.Close()
	st, err := state.Load(c.Paths.Installed())
	if err != nil {
		return nil, nil, nil, err
	}
	req, heldRecs := upgradeAllRequest(st)
	items, err := planWith(ctx, db, req)
	if err != nil {
		return nil, nil, nil, err
	}
	moves = upgradeSteps(items, func(name string) bool { return !isHeld(st, name) })
	kept = keptBack(ctx, db, req, items, upgradeWants(req), st)
	if len(heldRecs) == 0 {
		return moves, nil, kept, nil
	}
	if held, err = heldMoves(ctx, db, req, st); err != nil {
		return nil, nil, nil, err
	}
	return moves, held, kept, nil
}

// heldMoves are where the held packages of st would go if they were not
// held: their steps in the plan of everything (req lets every unheld
// package move).
func heldMoves(ctx context.Context, db *catalog.DB, req resolve.Request, st *state.State) ([]resolve.Step, error) {
	req.UpgradeAll = true
	items, err := planWith(ctx, db, req)
	if err != nil {
		return nil, err
	}
	return upgradeSteps(items, func(name string) bool { return isHeld(st, name) }), nil
}

// HeldLine is how upgrade names the held packages that have newer
// versions: "held, not upgraded: lib 1.0.0 (1.1.0 available)"; "" for
// none. list --upgradable, a listing, says "held: " before HeldList.
func HeldLine(held []resolve.Step) string {
	if len(held) == 0 {
		return ""
	}
	return "held, not upgraded: " + HeldList(held)
}

// HeldList is "lib 1.0.0 (1.1.0 available), ..." of held.
func HeldList(held []resolve.Step) string {
	list := make([]string, len(held))
	for i, s := range held {
		list[i] = fmt.Sprintf("%s %s (%s available)", s.Name, s.From, s.Version)
	}
	return strings.Join(list, ", ")
}

// upgradeWants are the packages req lets move, by name (sorted), as
// keptBack takes them.
func upgradeWants(req resolve.Request) []resolve.Dep {
	var out []resolve.Dep
	for _, name := range slices.Sorted(maps.Keys(req.Upgrade)) {
		out = append(out, resolve.Dep{Name: name})
	}
	return out
}

// upgradeAllRequest is the request of an upgrade of everything installed:
// every package may move but the held ones, which stay; held lists them.
func upgradeAllRequest(st *state.State) (req resolve.Request, held []state.Record) {
	req = resolve.Request{Installed: installedList(st), Upgrade: map[string]bool{}}
	for _, r := range st.Sorted() {
		if r.Held {
			held = append(held, r)
			continue
		}
		req.Upgrade[r.Name] = true
	}
	req.UpgradeAll = len(held) == 0
	return req, held
}

// upgradeSteps are the plan's moves of installed packages (not its new
// dependencies) that keep accepts.
func upgradeSteps(items []item, keep func(name string) bool) []resolve.Step {
	var out []resolve.Step
	for _, it := range items {
		if it.step.From != nil && keep(it.step.Name) {
			out = append(out, it.step)
		}
	}
	return out
}

func isHeld(st *state.State, name string) bool {
	r, ok := st.Get(name)
	return ok && r.Held
}

// Upgrade moves installed packages (all of them when names is empty) to the
// newest versions that satisfy every constraint. Everything is downloaded
// first; then, package by package in dependency order, the old version's
// uninstall.sh runs and the new version is staged; the new files replace
// the old ones (and the old ones the new version no longer ships go) in one
// step. If anything fails before that step, the old versions are restored.
func (c *Client) Upgrade(ctx context.Context, names []string, dryRun bool) (err error) {
	cmd := c.commandLine("upgrade", append(c.flagWords(), names...)...)
	if dryRun {
		cmd = "" // a dry run changes nothing and is not recorded
	}
	tx, err := c.begin(ctx, cmd, true)
	if err != nil {
		return err
	}
	defer func() { c.Last = tx.summary(err); tx.end(ctx, err) }()
	st := tx.recs
	req := resolve.Request{Installed: installedList(st), Upgrade: map[string]bool{}}
	var held []state.Record
	namedHeld := false // a name given is held: nothing is "up to date" then
	if len(names) == 0 {
		// Held packages stay where they are: upgrade everything else.
		req, held = upgradeAllRequest(st)
	}
	for _, n := range names {
		r, ok := st.Get(n)
		if !ok {
			return fmt.Errorf("upgrade %s: %w", n, state.ErrNotInstalled)
		}
		if r.Held {
			c.UI.Warnf("%s is held at %s: not upgrading it (dist-client unhold %s)\n", r.Name, r.Version, r.Name)
			namedHeld = true
			continue
		}
		req.Upgrade[r.Name] = true
	}
	// The packages the named ones depend on move with them: app 2.0.0
	// needing libfoo ^2 was out of reach of `upgrade app` while libfoo
	// stayed at 1.1.0, and upgrade said everything was up to date.
	if len(names) > 0 {
		maps.Copy(req.Upgrade, dependencyClosure(ctx, tx.db, st, slices.Collect(maps.Keys(req.Upgrade)), true))
	}
	var heldLine string
	if len(held) > 0 {
		// As list --upgradable names them; a plan of everything that does
		// not resolve only leaves the line out (the upgrade's own plan
		// says what is wrong).
		if steps, err := heldMoves(ctx, tx.db, req, st); err == nil {
			heldLine = HeldLine(steps)
		}
	}
	if heldLine != "" {
		c.UI.Printf("%s\n", heldLine)
	}
	items, err := planWith(ctx, tx.db, req)
	if err != nil {
		return err
	}
	if err := heldInPlan(st, items); err != nil {
		return err
	}
	tx.kept = keptBack(ctx, tx.db, req, items, upgradeWants(req), st)
	for _, k := range tx.kept {
		c.UI.Printf("kept back: %s\n", k)
	}
	if len(items) == 0 {
		if heldLine != "" || len(tx.kept) > 0 || namedHeld {
			// "up to date" would contradict the held or kept-back lines
			// above, or the warning that a package named is held:
			// `upgrade app` of a held app with a newer version said
			// "everything is up to date" (a newcomer's run).
			c.UI.Printf("nothing else to upgrade (as of the last dist-client sync)\n")
		} else {
			c.UI.Printf("everything is up to date (as of the last dist-client sync)\n")
		}
		return nil
	}
	if err := c.checkPlacing(st, items); err != nil {
		return err
	}
	var lines []string
	for _, it := range items {
		s := it.step
		if s.From != nil {
			lines = append(lines, fmt.Sprintf("  %s %s -> %s", s.Name, s.From, s.Version))
		} else {
			lines = append(lines, fmt.Sprintf("  %s %s (new dependency)", s.Name, s.Version))
		}
	}
	c.UI.Printf("Upgrade plan (%d):\n%s\n", len(items), strings.Join(lines, "\n"))
	size := c.downloadSizes(items)
	c.printSizes(items, size, st)
	if dryRun {
		return c.dryRun(ctx, tx.st, items, size)
	}
	if err := c.confirmDownload(size); err != nil {
		return err
	}
	return c.carryOut(ctx, tx, items, size, nil)
}

// dependencyClosure returns the set of installed, unheld packages that names
// depend on, directly or through one another, in the version installed or
// any newer one the catalog has (a new version may need what the installed
// one did not; an older one is no concern of an upgrade).
// `upgrade NAME` moves them with NAME, as `brew upgrade` moves a formula's
// dependencies, and an install the pinned dependencies make impossible is
// tried again with them free to move.
func dependencyClosure(ctx context.Context, db *catalog.DB, st *state.State, names []string, upgrade bool) map[string]bool {
	src := newSource(ctx, db)
	seen := map[string]bool{}
	for _, n := range names {
		seen[manifest.NameKey(n)] = true
	}
	out := map[string]bool{}
	for queue := slices.Clone(names); len(queue) > 0; queue = queue[1:] {
		// An installed package is looked at in its installed version or
		// newer ones (all an upgrade may pick), but a name an install
		// asks for in every version (install app@OLDER picks an older one).
		var floor *semver.Version
		if r, ok := st.Get(queue[0]); ok && (upgrade || !slices.Contains(names, queue[0])) {
			floor, _ = semver.StrictNewVersion(r.Version) // nil for a damaged record: every version
		}
		for _, c := range src.Versions(queue[0]) {
			if floor != nil && c.Version.LessThan(floor) {
				continue // a version an upgrade would not go to
			}
			for _, d := range c.Depends {
				if k := manifest.NameKey(d.Name); !seen[k] {
					seen[k] = true
					if r, ok := st.Get(d.Name); ok && !r.Held {
						out[r.Name] = true
						queue = append(queue, r.Name)
					}
				}
			}
		}
	}
	return out
}

// flagWords are the options of an install or upgrade that change what it
// does, as the history records its command: "install clash --overwrite
// 'bin/*'" was recorded "install clash".
func (c *Client) flagWords() []string {
	var out []string
	if c.Reinstall {
		out = append(out, "--reinstall")
	}
	for _, g := range c.Overwrite {
		out = append(out, "--overwrite", shellQuote(g))
	}
	if c.SkipUninstallScript {
		out = append(out, "--skip-uninstall-script")
	}
	return out
}

// shellQuote quotes s for a shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=@+,:") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

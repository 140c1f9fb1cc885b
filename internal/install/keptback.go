package install

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/resolve"
	"github.com/distpac/distpac/internal/state"
)

// Kept back: a plan may leave a package below the newest version the
// catalog has because that version cannot be had with what is installed
// (it needs a dependency that conflicts with an installed package, say).
// The resolver then quietly picks the newest version that can: install
// put 1.1.0 in, upgrade and list --upgradable said everything was up to
// date, and only `install NAME@1.2.0` told why (a newcomer's run). As apt
// says "kept back", a plan now names such packages and the reason, which
// is the resolver's explanation of the plan that asks for the newest
// version by name.

// KeptBack is a package a plan leaves below the newest version the catalog
// has (of those its request allows) and why that version cannot be had.
type KeptBack struct {
	Name    string `json:"name"`
	Version string `json:"version"` // what the plan has: its new version, or the installed one
	Newest  string `json:"newest"`
	Why     string `json:"why"`
}

func (k KeptBack) String() string {
	return fmt.Sprintf("%s %s (%s: %s)", k.Name, k.Version, k.Newest, k.Why)
}

// maxKeptBack bounds the resolutions a plan's explanations may take, each
// a resolution of its own: with one for every installed package a
// request named, an install of 400 installed names took 2.56 s against
// 21 ms (a review).
const maxKeptBack = 20

// keptBack returns those of wants that req's plan (items) leaves below the
// newest version their constraint allows, with the reason. A want the plan
// does not move is compared at its installed version; with installed nil
// only the wants the plan installs count (install: one it leaves at its
// installed version was not asked to move).
func keptBack(ctx context.Context, db *catalog.DB, req resolve.Request, items []item, wants []resolve.Dep, installed *state.State) []KeptBack {
	if len(wants) == 0 {
		return nil
	}
	planned := map[string]*semver.Version{}
	for _, it := range items {
		planned[strings.ToLower(it.step.Name)] = it.step.Version
	}
	names := make([]string, len(wants))
	for i, w := range wants {
		names[i] = w.Name
	}
	versions, err := db.VersionsOf(ctx, names) // one query for all
	if err != nil {
		return nil
	}
	var out []KeptBack
	tries := 0
	for _, want := range wants {
		if tries == maxKeptBack || ctx.Err() != nil {
			break
		}
		name, newest := newestAllowed(versions[want.Name], want)
		if newest == nil {
			continue
		}
		got := planned[strings.ToLower(name)]
		if got == nil {
			if installed == nil {
				continue
			}
			r, ok := installed.Get(name)
			if !ok {
				continue // not installed and not planned: nothing kept back
			}
			if got, err = semver.StrictNewVersion(r.Version); err != nil {
				continue
			}
		}
		if !newest.GreaterThan(got) {
			continue
		}
		// The plan that asks for that version by name says why not.
		exact, err := semver.NewConstraint("=" + newest.Original())
		if err != nil {
			continue
		}
		pinned := req
		// Nobody asked for that version: the explanation names it
		// "NAME V", not "you asked for NAME =V" (upgrade, list
		// --upgradable and status said so: a newcomer's run).
		pinned.Deps = []resolve.Dep{{Name: name, Constraint: exact, Raw: "=" + newest.Original(), Build: newest.Metadata(),
			Said: name + " " + newest.Original()}}
		for _, d := range req.Deps {
			if !strings.EqualFold(d.Name, name) {
				pinned.Deps = append(pinned.Deps, d)
			}
		}
		pinned.Upgrade = maps.Clone(req.Upgrade)
		if pinned.Upgrade == nil {
			pinned.Upgrade = map[string]bool{}
		}
		pinned.Upgrade[name] = true
		tries++
		_, err = planWith(ctx, db, pinned)
		// Only the resolver's word is a reason: a catalog that fails to
		// read, or a Ctrl-C, is not why a version is kept back. Without an
		// error it can be had: the plan just did not take it.
		var why *resolve.Explanation
		if errors.As(err, &why) && why.Cause != "" {
			out = append(out, KeptBack{Name: name, Version: got.Original(), Newest: newest.Original(), Why: why.Cause})
		}
	}
	return out
}

// newestAllowed is the catalog's name and newest version, among versions
// (oldest first), that want's constraint allows (any release, no
// prerelease, when it has none), or nil.
func newestAllowed(versions []catalog.Package, want resolve.Dep) (string, *semver.Version) {
	for i := len(versions) - 1; i >= 0; i-- {
		v, err := semver.StrictNewVersion(versions[i].Version)
		if err != nil {
			continue
		}
		if want.Constraint == nil && v.Prerelease() == "" || want.Constraint != nil && want.Constraint.Check(v) {
			return versions[i].Name, v
		}
	}
	return "", nil
}

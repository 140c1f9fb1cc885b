// Package resolve is distpac's dependency resolver: given the catalog, what
// the user asked for and what is installed, it picks one version of every
// package needed and returns the changes in install order, or explains in
// plain English why no such choice exists. It does no I/O.
//
// # Rules
//
// Every name gets the newest version that satisfies every constraint on it:
// from the request, from the dependencies of the versions chosen so far and
// from the installed packages. A nil constraint accepts any stable version;
// a pre-release is chosen only when a constraint names a pre-release
// (semver.Constraints.Check), but an installed pre-release, or one the
// request names exactly (name@1.0.0-rc.1), always satisfies a constraint
// whose range holds it: it never has to move, and one command does what
// installing it first and the rest second does.
//
// Versions that differ only in build metadata (1.0.0, 1.0.0+a, 1.0.0+b)
// have the same precedence and are one version to the solver: the first
// the source lists stands for all of them. A request for one exact build
// (Dep.Build, from name@1.0.0+b) gets that build instead, or fails; an
// installed build other than the one asked for is replaced (Replace).
//
// Installed packages stay where they are (pinned) unless Request.Upgrade
// names them or Request.UpgradeAll is set; upgrades never go below the
// installed version, and move to a pre-release only from a pre-release (as
// the constraint ">=installed" would allow). A requested name whose installed version already
// satisfies the request gets no step; one whose installed version does not
// is moved to the newest version that does (possibly a downgrade).
// Request.Free names installed packages that may move up when the rest
// needs it: their installed version is tried first, then the newest.
//
// The search is a backtracking search with conflict-directed backjumping and
// learned nogoods (sets of choices known to fail together), choosing the
// most constrained name first. Dependency cycles between different packages
// are allowed; a version depending on its own name is refused. The number of
// versions tried is capped (Request.MaxSteps); past it Resolve returns an
// error wrapping ErrTooComplex that names the packages tried most. When a
// package becomes required, what every one of its versions needs of
// another package is required at once (implied), so two packages whose
// versions all need disjoint versions of a third fail without trying
// their pairs.
//
// # Explanations
//
// When no solution exists Resolve returns an *Explanation:
//
//	cannot install <targets>: <cause>
//
// where <targets> lists the requested names ("app", "app and tool",
// "a, b and c"); with no request it reads "cannot upgrade a and b" or
// "cannot keep the installed packages". <cause> is one of these, built from
// the failure at the root of the search:
//
//	no package named "libzz" (needed by app 1.0.0)
//	no package named "app"
//	app 1.0.0 depends on libfoo >=2, but no version of libfoo matches >=2 (available: 1.0.0, 1.5.0)
//	no version of app matches >=5 (available: 1.0.0)
//	no version 1.6.0 of app (available: 1.0.0, 2.0.0)
//	no version of app is exactly 1.0.0+c (build metadata must match; there are 1.0.0, 1.0.0+a and 1.0.0+b)
//	app 1.0.0 depends on libfoo, but libfoo has no stable version (available: 1.0.0-rc.1)
//	app 1.0.0 depends on libfoo ^1, tool 2.0.0 depends on libfoo ^2, and no version of libfoo satisfies both
//	every version of ra (300, 1.0.0 to 1.0.299) depends on rc (one of 1.0.0 to 1.0.299), every version of rb (2.0.0, 2.1.0) depends on rc ^2, and no version of rc satisfies both
//	app 1.0.0 depends on libfoo >=2, <1, but no version of libfoo can ever match >=2, <1: the constraint contradicts itself
//	app 1.0.0 depends on libfoo ^2, but libfoo 1.5.0 is installed and is not being upgraded
//	app 1.0.0 depends on libfoo ^2, but libfoo 1.5.0 was selected
//	app 1.0.0 conflicts with tool (installed 1.2.0)
//	app 1.0.0 conflicts with tool <2 (selected 1.2.0)
//	app 1.0.0 conflicts with tool
//	installed tool 1.2.0 conflicts with app
//	app 1.0.0 depends on libfoo ^1, but installed tool 1.2.0 conflicts with libfoo
//	libfoo 1.5.0 is installed and would not be downgraded
//	app 1.0.0 depends on itself
//
// "you asked for NAME CONSTRAINT" stands for the request (unless its
// Dep.Said names it otherwise: then a clash of it with one constraint
// alone is told by that constraint) and "installed
// NAME VERSION" for a pinned installed package where a version label would
// appear. When every tried version of a package fails for the same reason
// the versions are summarised as "every version of app (1.0.0, 1.1.0)"
// (or "app 1.0.0 and 1.1.0" when only some do); different reasons are
// joined with "; ", at most eight versions of a package are kept and the
// cause is cut at a "; " past 600 bytes.
package resolve

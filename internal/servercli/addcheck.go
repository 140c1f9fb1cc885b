package servercli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/manifest"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/suggest"
)

// addWarnings checks what add published against the working catalog (which
// now holds it, with everything published before): a dependency no version
// satisfies, so clients cannot install the package yet, and a directory
// named NAME-VERSION whose VERSION is not the manifest's, a likely copy of
// an old directory. Neither is an error: a publisher may add the
// dependency next, or name directories as they like. The directories'
// own warnings (a file in scripts/ that is not run) come first.
func addWarnings(ctx context.Context, sp paths.Server, results []publish.Result) []string {
	var warns []string
	for _, r := range results {
		warns = append(warns, r.Warnings...)
		if w := dirVersionWarning(r); w != "" {
			warns = append(warns, w)
		}
	}
	db, err := openWorking(ctx, sp)
	if err != nil || db == nil {
		return warns
	}
	defer db.Close()
	for _, r := range results {
		for _, d := range r.Package.Depends {
			if w := unsatisfied(ctx, db, r.Package, d); w != "" {
				warns = append(warns, w)
			}
		}
	}
	return warns
}

// removeWarnings names each package still published with a dependency on
// a name remove took versions of that no version left satisfies: clients
// can no longer install it. add warns of the same when it publishes such a
// package; remove broke dependents silently (a newcomer's run removed
// libgreet 1.0.0 under hello, and clients found out at install).
func removeWarnings(ctx context.Context, sp paths.Server, removed []catalog.Package) []string {
	names := map[string]bool{} // lower-case: names are unique ignoring case
	for _, r := range removed {
		names[strings.ToLower(r.Name)] = true
	}
	db, err := openWorking(ctx, sp)
	if err != nil || db == nil || len(names) == 0 {
		return nil
	}
	defer db.Close()
	all, err := db.All(ctx)
	if err != nil {
		return nil
	}
	var warns []string
	for _, pkg := range all {
		for _, dep := range pkg.Depends {
			if d, err := manifest.ParseDependency(dep); err != nil || !names[strings.ToLower(d.Name)] {
				continue
			}
			if w := unsatisfied(ctx, db, pkg, dep); w != "" {
				warns = append(warns, w)
			}
		}
	}
	return warns
}

// dirVersionWarning: "hello-1.0.0" holding a manifest of version 1.1.0.
func dirVersionWarning(r publish.Result) string {
	base := filepath.Base(filepath.Clean(r.Dir))
	if strings.EqualFold(base, r.Package.Name) {
		return "" // the suffix is part of the name the manifest gives
	}
	_, dirVersion, ok := manifest.SplitDirName(base)
	if !ok {
		return ""
	}
	v, err := manifest.ParseVersion(dirVersion)
	if err != nil {
		return ""
	}
	if mv, err := manifest.ParseVersion(r.Package.Version); err == nil && v.Equal(mv) && v.Metadata() == mv.Metadata() {
		return ""
	}
	return fmt.Sprintf("%s: the directory name says version %s, its manifest.yaml says %s (published as %s %s)",
		r.Dir, dirVersion, r.Package.Version, r.Package.Name, r.Package.Version)
}

// unsatisfied says when no published version satisfies pkg's dependency dep.
func unsatisfied(ctx context.Context, db *catalog.DB, pkg catalog.Package, dep string) string {
	d, err := manifest.ParseDependency(dep)
	if err != nil {
		return "" // the catalog's rows were checked at add; nothing to add here
	}
	rows, err := db.Versions(ctx, d.Name)
	if errors.Is(err, catalog.ErrNotFound) {
		// A typo in the manifest is the likely reason (a newcomer's
		// run: "mylb" for mylib went out with no more than this).
		hint := ""
		if names, err := db.Names(ctx); err == nil {
			names = slices.DeleteFunc(names, func(n string) bool { return strings.EqualFold(n, pkg.Name) })
			if p := suggest.Phrase(suggest.Closest(d.Name, names, 3)); p != "" {
				hint = " (" + p + ")"
			}
		}
		return fmt.Sprintf("%s %s depends on %s, which is not published%s: clients cannot install it until it is", pkg.Name, pkg.Version, d, hint)
	}
	if err != nil {
		return ""
	}
	var have, pre []string
	for _, row := range rows {
		v, err := manifest.ParseVersion(row.Version)
		if err == nil && d.Allows(v) {
			return ""
		}
		have = append(have, row.Version)
		if err == nil && v.Prerelease() != "" && d.Holds(v) {
			pre = append(pre, row.Version)
		}
	}
	if len(pre) > 0 {
		// Clients match a pre-release the command names exactly as an
		// installed one (resolve's rules): installable, but not by itself.
		return fmt.Sprintf("%s %s depends on %s, which only pre-releases satisfy (%s): clients install it only with one named (install %s %s@%s)",
			pkg.Name, pkg.Version, d, strings.Join(pre, ", "), pkg.Name, d.Name, pre[len(pre)-1])
	}
	return fmt.Sprintf("%s %s depends on %s, which no published version satisfies (published: %s): clients cannot install it until one is",
		pkg.Name, pkg.Version, d, strings.Join(have, ", "))
}

// loopbackWarning: add writes the tracker URL into every torrent it adds,
// and the default one is on this machine's loopback address, which no
// other host reaches. It says so with no configuration file (none given
// with --config and no server.yaml in the data directory, at path), and
// with one whose server listens beyond loopback (tracker_addr ":6969", the
// default, or a host's address) while its torrents announce to loopback
// (announce_url not set): a publisher on a network of hosts that set the
// addresses and not the URLs had clients sync its catalog and then find
// no tracker and no seeder, fetching every archive over HTTP as a last
// resort. A file whose addresses are all on loopback (the README's try
// on one machine) is left alone. The tracker is fixed in a torrent at add
// time (start warns of torrents that name another tracker than server.yaml
// does), so the time to say it is the first add.
func loopbackWarning(path string, fileExists bool, cfg *config.Server, results []publish.Result) string {
	if !slices.ContainsFunc(results, func(r publish.Result) bool { return r.Added }) {
		return ""
	}
	trackers := cfg.Trackers()
	for _, t := range trackers {
		u, err := url.Parse(t)
		if err != nil || !isLoopbackHost(u.Hostname()) {
			return ""
		}
	}
	if !fileExists {
		return fmt.Sprintf("no configuration at %s: the torrents added announce to %s, which only this machine reaches; "+
			"for clients on other hosts set announce_url and public_url there (README: server.yaml), then remove and add these packages again",
			path, strings.Join(trackers, ", "))
	}
	// An announce_url the file sets is the publisher's choice (a tracker
	// on loopback on purpose); the one derived from tracker_addr is not.
	derived := config.Server{TrackerAddr: cfg.TrackerAddr}
	derived.ApplyDefaults()
	if len(cfg.AnnounceURLs) > 0 || cfg.AnnounceURL != derived.AnnounceURL {
		return ""
	}
	for _, a := range []struct{ key, addr string }{{"tracker_addr", cfg.TrackerAddr}, {"database_addr", cfg.DatabaseAddr}, {"peer_addr", cfg.PeerAddr}} {
		host, _, err := net.SplitHostPort(a.addr)
		if err != nil || isLoopbackHost(host) {
			continue
		}
		where := "every address"
		if ip, err := netip.ParseAddr(host); host != "" && (err != nil || !ip.IsUnspecified()) {
			where = host
		}
		return fmt.Sprintf("%s: %s %q listens on %s, but the torrents added announce to %s, which only this machine reaches: "+
			"clients on other hosts will find no tracker and no seeder; set announce_url and public_url there to what they reach (README: server.yaml), then remove and add these packages again",
			path, a.key, a.addr, where, strings.Join(trackers, ", "))
	}
	return ""
}

// announcePathWarnings: the tracker URLs of the configuration at path
// that have no path (config.Server.AnnouncePathWarnings), when add wrote
// them into torrents: those announce there for good, so they are added
// again once the URL is set.
func announcePathWarnings(path string, cfg *config.Server, results []publish.Result) []string {
	if !slices.ContainsFunc(results, func(r publish.Result) bool { return r.Added }) {
		return nil
	}
	var warns []string
	for _, w := range cfg.AnnouncePathWarnings(path) {
		warns = append(warns, w+"; the torrents added announce there: remove and add these packages again once it is set")
	}
	return warns
}

// isLoopbackHost: host (a URL's or a listen address's) is this machine's
// loopback, by address or as localhost.
func isLoopbackHost(host string) bool {
	ip, err := netip.ParseAddr(host)
	return host == "localhost" || err == nil && ip.IsLoopback()
}

// portZeroWarning: an address of port 0 (tracker_addr, database_addr)
// listens on a free port chosen anew at each start, and the default
// announce_url and public_url derived from it name port 0, which no client
// reaches: the torrents added announce to a dead tracker and name a dead
// web seed (a newcomer's run, following the hint that once suggested port
// 0 for an address in use).
func portZeroWarning(cfg *config.Server, results []publish.Result) string {
	if !slices.ContainsFunc(results, func(r publish.Result) bool { return r.Added }) {
		return ""
	}
	var dead []string
	for _, u := range append(cfg.Trackers(), cfg.PublicURL) {
		if p, err := url.Parse(u); err == nil && p.Port() == "0" {
			dead = append(dead, u)
		}
	}
	if len(dead) == 0 {
		return ""
	}
	return fmt.Sprintf("the torrents added name %s: port 0 is no port a client can reach (an address of port 0 listens on a free port chosen at each start); "+
		"set announce_url and public_url to what clients reach, or fixed ports in tracker_addr and database_addr, then remove and add these packages again",
		strings.Join(dead, " and "))
}

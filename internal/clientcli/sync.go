package clientcli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/httpbound"
	"github.com/distpac/distpac/internal/redact"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/ui"
)

type syncOptions struct {
	json bool
	from string
}

func newSync(e *env) *cobra.Command {
	var o syncOptions
	c := &cobra.Command{
		Use:        "sync",
		SuggestFor: []string{"update", "refresh"}, // apt, pacman and dnf words
		Short:      "Download and verify the server's signed catalog",
		Long: `sync fetches packages.db and packages.db.sig from server_url (one round trip when
nothing changed), verifies the ed25519 signature against the pinned key, never takes a
catalog older than the one held (a rollback), and replaces the local copy atomically.
Any failure keeps the previous catalog.

A server whose catalog is valid but older than the one held (a mirror that has not
caught up with its primary yet) has not failed: when no server gives a newer catalog,
sync keeps the one held, says "catalog up to date", warns that the server serves an
older one and has not caught up yet, and exits 0 (sync && upgrade goes on). So is one
whose older catalog has expired too (a mirror that stopped following its primary): the
warning says it expired and is no longer re-signed; an expired catalog is never taken.
Unless the catalog held has expired: then sync fails, as it does when a server has
nothing newer.

With server_urls (mirrors of the same signed catalog), sync tries them in order and
takes the first catalog that passes every check, saying what each server before it
did: a refused connection costs nothing, a server that does not answer 5 s, a mirror
with a stale or forged catalog is passed over (one behind the catalog held too), and
one whose catalog would take over a minute at the rate it sends is set aside after
5 s, waited for only if no other server gives a catalog. From the last server left, a
catalog on course to take over 20 minutes at the rate it arrives is given up too. A
catalog from a mirror is the publisher's own, signed by the same key. sync names the
server the catalog came from: a mirror that lags behind its primary, but not behind
the catalog held, gives its older serial.

Without server_key in client.yaml, the first sync pins the key the server presents
(trust on first use) and says so (with several server_urls, only when no other of
them presents another key at its /key: else it fails naming each); later syncs
require that key, or a key the server handed over to with a statement that key
signed (dist-server key rotate), which sync follows and says so (with server_key in
client.yaml, every sync says so until it is updated). A catalog past its valid_until
(set by the server's catalog_valid_for) is refused, as apt refuses an expired Release
file.

A server that failed a sync is tried after the others for ten minutes; --from URL
syncs from that one of server_urls alone, with the same checks (a primary back up
after an outage, while a mirror still lags behind it).

--json gives updated, serial, packages, server (the one the catalog came from),
pinned_key (when this sync pinned it), behind ({server, serial, valid_until,
stale, note} of each server behind the catalog held), failed ({server, error}
of each server that failed, in the order tried) and passed_over ({server,
failed_at, until} of each server listed before the one it came from that it did
not try, having failed a sync in the last ten minutes); the lists are [] when empty.
A sync that fails (exit status 1) gives error, hint (when there is one), behind,
failed and passed_over instead, and keys ({server, key, fingerprint} of each) when
the servers listed present different keys on first use.`,
		Example: `  dist-client sync
  dist-client sync --from http://primary.example:9090   # that server of server_urls alone
  dist-client sync && dist-client upgrade`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runSync(cmd.Context(), e, o, args) },
	}
	c.Flags().BoolVar(&o.json, "json", false, "print the result as JSON")
	c.Flags().StringVar(&o.from, "from", "", "sync from this `URL` of server_urls alone")
	return c
}

func runSync(ctx context.Context, e *env, o syncOptions, _ []string) error {
	cfg, cp, err := e.config()
	if err != nil {
		return err
	}
	key, err := configuredKey(cfg.ServerKey)
	if err != nil {
		return err
	}
	only, err := syncFrom(o.from, cfg.Servers())
	if err != nil {
		return err
	}
	lock, err := state.Acquire(ctx, cp.Lock(), func(pid int) {
		e.UI.Warnf("another dist-client (pid %d) is changing this installation; waiting...\n", pid)
	})
	if err != nil {
		return err
	}
	defer lock.Release()
	cfgPath, _ := e.configPath()
	res, err := catalogclient.Sync(ctx, catalogclient.Options{ServerURLs: cfg.Servers(), Only: only, Dir: cp.Dir, Key: key, ConfigFile: cfgPath, Logger: e.Logger})
	if err != nil {
		err = e.withServerHint(err, cfg)
		if o.json && !cli.Interrupted(ctx, err) {
			// The lists of a sync that some server served, with the
			// error and hint cli.Run would print: with every server
			// failed, --json said only {"error", "hint"}, the servers
			// and why each failed in one string.
			servers := cfg.Servers()
			if only != "" {
				servers = []string{only}
			}
			e.UI.JSON(newSyncFailedJSON(err, servers))
		}
		return err
	}
	// Without the advice about the key that a failed server's error may
	// end in: another server's catalog verified with that key, and the
	// advice (trust set, a new server_key) would have handed this client
	// over to the failed server.
	for _, f := range res.Failed {
		e.UI.Warnf("server %s\n", f.Passed())
	}
	// Not failed, and no attack: a mirror a minute behind its primary
	// (a newcomer's run read "refusing a rollback" and exit status 1).
	for _, b := range res.Behind {
		e.UI.Warnf("%s\n", b.Note())
	}
	// With several servers, which one answered is said: the first that
	// answers is taken, and a mirror that lags behind its primary gives
	// its older serial as up to date (an attacker's run read "catalog up
	// to date: serial 2" while the next server had 3).
	// --json says it as "server".
	if !o.json && res.Server != "" && (len(res.Failed) > 0 || len(cfg.Servers()) > 1) {
		e.UI.Printf("catalog from %s\n", res.Server)
	}
	if o.json {
		if err := e.UI.JSON(newSyncJSON(res)); err != nil {
			return err
		}
	}
	if res.Pinned != nil {
		e.UI.Warnf("TRUST ON FIRST USE: pinned the key of %s:\n    %s (%s)\n  Compare it with the output of `dist-server key` on the publishing server (for a mirror,\n  on its primary); to pin it explicitly, set server_key in %s.\n  Later syncs will refuse catalogs signed by any other key.\n", res.Server, res.Pinned, res.Pinned.Fingerprint(), cfgPath)
	}
	if d := len(res.DroppedWebSeeds); d > 0 {
		e.UI.Warnf("%s\n", catalogclient.DroppedWebSeedsNote(res))
	}
	if n := len(res.Rotated); n > 0 {
		first, last := res.Rotated[0], res.Rotated[n-1]
		if key == nil {
			e.UI.Printf("following the server's key rotation: now trusting %s (was %s; handed over by a statement the old key signed, serial %d on)\n",
				last.New.Fingerprint(), first.Old.Fingerprint(), last.Serial)
		} else {
			e.UI.Warnf("the server rotated its key: server_key in %s (%s) handed over to %s (%s) from serial %d on; set server_key to the new key\n",
				cfgPath, first.Old.Fingerprint(), last.New, last.New.Fingerprint(), last.Serial)
		}
	} else if key != nil {
		// The sync that followed the rotation said so, and the next ones,
		// answered 304 or verified by following the statements again,
		// said nothing: only trust show told that server_key was due for
		// an update (a newcomer's run). The catalog held verified, so a
		// server_key that did not sign it was rotated away from.
		if by, err := catalogclient.HeldSignedBy(cp.Dir, key); err == nil && !by {
			e.UI.Warnf("server_key in %s (%s) is a key the server rotated away from: set it to the key dist-server key prints on the server\n", cfgPath, key.Fingerprint())
		}
	}
	switch {
	case o.json:
	case res.Updated:
		e.UI.Printf("catalog updated: serial %d, %s\n", res.Serial, ui.Count(res.Packages, "package version"))
	case res.Server == "":
		// Kept: every server that answered is behind it (said above).
		e.UI.Printf("catalog up to date: serial %d, %s (no server that answered has a newer one)\n", res.Serial, ui.Count(res.Packages, "package version"))
	case len(cfg.Servers()) > 1:
		// The first server that answers is taken: a mirror behind its
		// primary is "up to date" as that mirror serves it only (a
		// newcomer's run read "up to date" after the primary had moved on).
		e.UI.Printf("catalog up to date as %s serves it: serial %d, %s\n", res.Server, res.Serial, ui.Count(res.Packages, "package version"))
	default:
		e.UI.Printf("catalog up to date: serial %d, %s\n", res.Serial, ui.Count(res.Packages, "package version"))
	}
	if !o.json {
		// With what to run to take that server's catalog now: a primary back
		// up stays behind its mirror until then, and the note alone left
		// the user to find --from in the help (a newcomer's run).
		for _, d := range res.Demoted {
			e.UI.Printf("note: %s, listed before it, failed a sync %s ago and is tried after the others until %s (dist-client sync --from %s syncs from it now)\n",
				d.URL, time.Since(d.Failed).Round(time.Second), d.Until.Local().Format(time.TimeOnly), d.URL)
		}
	}
	return nil
}

// withServerHint adds to a failed sync's error where the server's URL came
// from: with no client.yaml, from the defaults (a newcomer who has not
// written one must hear that, and where it goes); with one, from its
// server_url, when the server could not be reached (its name does not
// resolve, it refused the connection) or has no catalog at that URL.
func (e *env) withServerHint(err error, cfg *config.Client) error {
	path, missing := e.configPath()
	if hint := serverHint(err, cfg, path, missing); hint != "" {
		return cli.WithHint(err, hint)
	}
	return err
}

// withDownloadHint gives an install's or upgrade's error that every
// source refusing the connection ended (the server down) the hint of a
// sync that met the same, and one that a web seed's 401 or 403 ended the
// sync's hint (serverHint: where the user and
// password go in client.yaml, what a 403 means, naming the URL, or that
// a redirect got no password), so that a refusal reads the same whether
// the sync or an archive's download met it: the no-source error had
// wording of its own for a 403 and a redirect, and no hint. An error
// that has a hint keeps it.
func (e *env) withDownloadHint(err error) error {
	var h *cli.Hinted
	refused := errors.Is(err, httpbound.ErrUnauthorized) || errors.Is(err, httpbound.ErrForbidden)
	if !refused && !errors.Is(err, swarm.ErrUnreachable) || errors.As(err, &h) {
		return err
	}
	cfg, _, cerr := e.config()
	if cerr != nil {
		return err
	}
	// Not missing, even with no client.yaml: the sync worked with the
	// default server_url, so the hint is the refusal's (where the user
	// and password go), not the newcomer's "write the server's URL there".
	path, _ := e.configPath()
	if hint := serverHint(err, cfg, path, false); hint != "" {
		return cli.WithHint(err, hint)
	}
	return err
}

// serverHint is withServerHint's hint ("" for none) for a sync with cfg,
// read from path (missing: there is no file there).
func serverHint(err error, cfg *config.Client, path string, missing bool) string {
	why := ""
	var dns *net.DNSError
	switch {
	case allRefused(err) || errors.Is(err, swarm.ErrUnreachable):
		why = "is dist-server running? "
	case catalogclient.Unreachable(err) && errors.As(err, &dns) && dns.IsNotFound:
		why = "the host name " + dns.Name + " does not resolve: "
	}
	ref := httpbound.RefusalIn(err, cfg.Servers())
	// The URL is the first thing to check: the server is not there, has
	// no catalog at that path, or is no HTTP server (a BitTorrent port).
	wrongURL := catalogclient.Unreachable(err) || errors.Is(err, catalogclient.ErrNoCatalogHere) || errors.Is(err, catalogclient.ErrNotHTTP) ||
		errors.Is(err, swarm.ErrUnreachable)
	switch {
	case missing:
		return fmt.Sprintf("%sno client.yaml at %s, so the default server_url %s was used: write the server's URL there as server_url", why, path, config.DefaultServerURL)
	case wrongURL && len(cfg.ServerURLs) == 0 && cfg.ServerURL == config.DefaultServerURL:
		// A client.yaml without server_url (the quick start's, after its
		// server moved off port 9090): "check server_url" sent a newcomer
		// to a file that has none.
		return fmt.Sprintf("%scheck server_url in %s: it is %s, the default when the file sets none; write the server's URL there (dist-server start prints it)", why, path, config.DefaultServerURL)
	case wrongURL:
		return why + "check " + serversKey(cfg) + " in " + path
	case ref.NotSent:
		// The 401 or 403 came from where a redirect led, which got no
		// password: checking the password would not help.
		return "the server redirected the request to another scheme, host or port, which distpac sends no user and password to (they go only where " + serversKey(cfg) + " says): if that server is the repository's, write its URL (https:// for a redirect to https) in " + serversKey(cfg) + " in " + path
	case ref.Code == http.StatusForbidden:
		// A 403 is no question of the password: the server knows who
		// asks (or asks no one) and refuses. The URL is the catalog's
		// or the archive's web seed's.
		refused := cmp.Or(ref.URL, "the server")
		if ref.Password {
			return refused + " refuses this user (403 Forbidden: the password was taken, and the user is not allowed this repository, or the server forbids that path): ask the repository's administrator to allow the user there, or check the user and URL in " + serversKey(cfg) + " in " + path
		}
		return refused + " refuses the request (403 Forbidden: the server forbids that path, or allows only some users or addresses): check the URL in " + serversKey(cfg) + " in " + path + " (a private repository's user and password go there, as http(s)://USER:PASSWORD@HOST[:PORT]), or ask the server's administrator"
	case ref.Code == http.StatusUnauthorized && !ofServers(ref.URL, cfg.Servers()):
		// A web seed the package's torrent names (the publisher's
		// public_url, a CDN) on no server of server_urls: distpac sends
		// no password there, so "give them in server_urls" could not
		// help (an attacker's run).
		return ref.URL + " asks for a user and password (HTTP basic auth), and it is a web seed the package's torrent names, not one of the servers in " + serversKey(cfg) + " in " + path + ", the only ones distpac sends a user and password to: ask the publisher to serve the archives there without one"
	case ref.Code == http.StatusUnauthorized:
		// A private repository behind a web server's basic auth: the
		// 401 alone did not say where the user and password go. Of
		// several servers, the one that asked is named, and whether it
		// was given a password is its own (PasswordSent): a client of
		// two, one with a password and one without, was told to check
		// the password of the one without.
		who := "the server"
		if ref.URL != "" && len(cfg.Servers()) > 1 {
			who = ref.URL
		}
		if ref.Password {
			return who + " asks for a user and password (HTTP basic auth): check the user and password in " + serversKey(cfg) + " in " + path
		}
		return who + " asks for a user and password (HTTP basic auth): give them in " + serversKey(cfg) + " in " + path + ", as http(s)://USER:PASSWORD@HOST[:PORT]"
	case errors.Is(err, http.ErrSchemeMismatch):
		// Every other mistake in the URL had a hint (a newcomer's run).
		return "dist-server serves plain HTTP: write http:// in " + serversKey(cfg) + " in " + path + " (https:// is for a web server with TLS in front of it)"
	case len(cfg.Servers()) > 1 && errors.Is(err, catalogclient.ErrBadSignature):
		// server_urls is not apt's list of repositories: a newcomer's run
		// listed two publishers, and the advice to trust the second's key
		// would have handed this client over to it.
		several := "server_urls in " + path + " lists one publisher's servers (its primary and its mirrors, one catalog signed by one key), not several publishers: another publisher's packages need a client of their own (its own XDG_DATA_HOME and client.yaml)"
		if everyServer(err, catalogclient.ErrBadSignature) {
			// Every server refused alike: the publisher's key changed
			// (key new), and the hint spoke only of several publishers
			// (an operator's run).
			return "every server tried gives a catalog the pinned key did not sign, as after the publisher made a new key (dist-server key new): once its operator confirms the new key, trust it as the error says; " + several
		}
		return several
	}
	return ""
}

// ofServers reports whether u (a URL as messages show it; "" for none
// known) is on one of servers' origins, where their user and password
// go: true for "", so that an error that does not say keeps the hint of
// before.
func ofServers(u string, servers []string) bool {
	if u == "" {
		return true
	}
	pu, err := url.Parse(u)
	if err != nil {
		return true
	}
	for _, s := range servers {
		if ps, err := url.Parse(s); err == nil && httpbound.SameOrigin(pu, ps) {
			return true
		}
	}
	return false
}

// allRefused reports whether every server a sync asked refused the
// connection. With one refused and another answering (a mirror behind the
// catalog held, say), "is dist-server running?" sent the user to the wrong
// server (a newcomer's run).
func allRefused(err error) bool { return everyServer(err, syscall.ECONNREFUSED) }

// everyServer reports whether the error of every server a sync asked
// (of the one, when err is no ServersError) is target.
func everyServer(err, target error) bool {
	var se catalogclient.ServersError
	if !errors.As(err, &se) {
		return errors.Is(err, target)
	}
	for _, f := range se {
		if !errors.Is(f.Err, target) {
			return false
		}
	}
	return len(se) > 0
}

// hasPassword reports whether one of servers gives a password.
func hasPassword(servers []string) bool {
	return slices.ContainsFunc(servers, redact.HasPassword)
}

// firstServer is the server a sync asks first, as messages show it (its
// password masked).
func firstServer(cfg *config.Client) string { return redact.URL(cfg.Servers()[0]) }

// serversKey names the client.yaml key that lists the servers in force.
func serversKey(cfg *config.Client) string {
	if len(cfg.ServerURLs) > 0 {
		return "server_urls"
	}
	return "server_url"
}

// syncFrom is the server of servers that --from names ("" for none): one
// of client.yaml's, so that the servers a client trusts stay the ones its
// configuration lists (a trailing slash aside). It may be named with its
// password masked, as sync's messages show it (user:xxxxx@).
func syncFrom(from string, servers []string) (string, error) {
	if from == "" {
		return "", nil
	}
	from = strings.TrimSuffix(from, "/")
	for _, u := range servers {
		if s := strings.TrimSuffix(u, "/"); s == from || redact.URL(s) == from {
			return u, nil
		}
	}
	return "", cli.Usagef("sync: --from %s is not one of the servers in client.yaml (%s)", redact.URL(from), strings.Join(redact.URLs(servers), ", "))
}

package servercli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/httpbound"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/redact"
	"github.com/distpac/distpac/internal/server"
	"github.com/distpac/distpac/internal/signing"
	"github.com/distpac/distpac/internal/swarm"
)

// mirror is a command of its own, not a mode of start: a mirror has no
// working catalog, signing key, tracker or add/remove, and takes what
// start has not (the primary's URL and key); stop and status work on it
// as on a publisher, since it runs under the same lock and server.json.

type mirrorOptions struct {
	foreground bool
	key        string
	interval   time.Duration
	timeout    time.Duration
	json       bool
}

func newMirror(e *env) *cobra.Command {
	var o mirrorOptions
	c := &cobra.Command{
		Use:   "mirror [URL...]",
		Short: "Follow a primary server: serve and seed its signed catalog and archives",
		Long: `mirror follows the dist-server at URL (its public_url: the base URL, not the URL of
packages.db, which is refused). It syncs the primary's signed catalog with every
check a client makes (the signature against the primary's key, key rotations, the
serial never going back, the expiry), downloads every archive over BitTorrent and
checks its SHA-256, seeds them, and serves the same catalog, signature and key
rotation statements, byte for byte, and the archives (a web seed) at database_addr,
as the primary does. A catalog is served as soon as it is verified and each archive as
it comes in; a round starts downloads for at most an --interval (an archive that fails
its SHA-256 waits an interval, doubling with each failure up to an hour, or until its
row changes), and the start returns
once the archives are in or that much was tried (at most 5 minutes). It syncs again
every --interval; the primary's re-signing keeps the catalog valid. A primary that
serves an older catalog than the one held (restored from a backup) is behind, not
down: the mirror serves the catalog it holds on, and status says so ("behind:"), until
the primary publishes again: serials are at least the UTC time of publication
(YYYYMMDDhhmmss), so that publication is newer than any the mirror holds, unless the
primary's clock is behind: there, dist-server republish --past SERIAL (the serial the
mirror holds) publishes past it.

Clients list the mirror in server_urls beside the primary. The signed torrents still
name the primary's tracker and seeder: the mirror's seeder announces to that tracker,
which is how clients find it. Several URLs are tried in order (a primary and other
mirrors of it; at most ` + strconv.Itoa(config.MaxServers) + `, none twice, as in a client's server_urls).
Without URL arguments they are read from the environment variable ` + primaryURLsEnv + `
(space-separated): a URL with a user and password (a primary behind HTTP basic auth)
is then not on a command line, which every user of the host can read (ps); the
background mirror gets its URLs from its environment in any case. Without either, the
mirror follows the URLs the last mirror started in this data home followed (kept in
server/mirror/primary.json, passwords masked: one with a password must be given again).

Without --key the first sync pins the key the primary presents (trust on first use)
and says so; compare it with dist-server key on the primary. With several URLs, a key
another of them contradicts at its /key is not pinned: the sync fails naming both.
The mirror's data lives under server/mirror/ of the data home, which has no catalog or
signing key of its own: add, remove, key, key rotate and start refuse there (run them
on the primary).
server.yaml gives database_addr, peer_addr, upload_rate_limit and metrics_addr. With
upload_rate_limit set, the mirror gives its pieces out from the last one down while the
primary gives them from the first up, so the two send clients different pieces. It runs
in the background like start (log in server.log); dist-server status and stop work on it.`,
		Example: `  dist-server mirror https://packages.example.org
  dist-server mirror --key ed25519:... --interval 5m https://packages.example.org
  dist-server mirror --foreground http://primary:9090   # for systemd and tests
  ` + primaryURLsEnv + `=https://user:pass@packages.example.org dist-server mirror`,
		Args: cli.Args(0, config.MaxServers, "primary URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMirror(cmd.Context(), e, o, args)
		},
	}
	c.Flags().BoolVar(&o.foreground, "foreground", false, "stay attached instead of running in the background")
	c.Flags().StringVar(&o.key, "key", "", "the primary's public key (dist-server key on the primary); default: pin the first one seen")
	c.Flags().DurationVar(&o.interval, "interval", server.DefaultMirrorInterval, "how often to sync the catalog again and retry missing archives")
	c.Flags().DurationVar(&o.timeout, "timeout", 10*time.Minute, "how long mirror waits for the background mirror to be ready (it serves the catalog at once, and tries the archives' downloads for up to 5 minutes first)")
	c.Flags().BoolVar(&o.json, "json", false, "print the addresses as JSON once ready")
	return c
}

func runMirror(ctx context.Context, e *env, o mirrorOptions, args []string) error {
	cfg, sp, err := e.config()
	if err != nil {
		return err
	}
	if len(args) == 0 && strings.TrimSpace(os.Getenv(primaryURLsEnv)) == "" {
		if args, err = rememberedPrimaries(sp); err != nil {
			return err
		}
		if len(args) > 0 && !o.json {
			e.UI.Printf("following %s, as the mirror last started in this data home did (%s)\n", strings.Join(args, ", "), sp.MirrorPrimaries())
		}
	}
	args, err = primaryURLs(args, os.Getenv(primaryURLsEnv))
	if err != nil {
		return err
	}
	var key signing.PublicKey
	if o.key != "" {
		if key, err = signing.ParsePublicKey(o.key); err != nil {
			return cli.Usagef("mirror: --key: %v", err)
		}
	}
	if o.interval < 100*time.Millisecond {
		return cli.Usagef("mirror: --interval %s: want at least 100ms", o.interval)
	}
	if pid, running := runningPID(sp); running {
		return alreadyRunning(sp, "mirror", pid)
	}
	if !o.foreground {
		bg := []string{"mirror", "--interval", o.interval.String()}
		if o.key != "" {
			bg = append(bg, "--key", o.key)
		}
		// The URLs go in the environment, not on the command line, which
		// every user of the host can read: one may hold a password.
		env := []string{primaryURLsEnv + "=" + strings.Join(args, " ")}
		return startBackground(ctx, e, sp, bg, env, o.timeout, func(info server.Info, log string) { printInfo(e, o.json, info, log) })
	}
	// Said by the process that runs the mirror, as start's warnings
	// (startBackground relays them from the log).
	cfgPath, _ := e.configFile()
	if cfgPath != "" {
		if ignored := mirrorIgnores(cfgPath); len(ignored) > 0 {
			e.UI.Warnf("%s: a mirror ignores %s (it serves the primary's catalog and torrents; it uses %s)\n",
				cfgPath, strings.Join(ignored, ", "), strings.Join(mirrorKeys, ", "))
		}
	}
	swarm.GovernProcs(ctx)
	return withPrimaryHint(args, server.RunMirror(ctx, server.MirrorOptions{
		Paths: sp, Config: cfg, ConfigPath: cfgPath, Primary: args, Key: key, Interval: o.interval,
		Logger: e.LoggerAt(slog.LevelInfo),
		Ready:  func(info server.Info) { printInfo(e, o.json, info, "") },
		// Only a sync that pinned the key on first use calls it: a start
		// after one with --key, which pinned the key given, does not (every
		// start without --key said "pinned on first use" of it once).
		// One line, as ssh's for a new host key: the key, the primary
		// that presented it, where it is kept and how to check it.
		Pinned: func(k signing.PublicKey, from string) {
			t, _ := catalogclient.LoadTrust(sp.MirrorCatalog(), nil) // for its Path
			e.UI.Warnf("TRUST ON FIRST USE: pinned the key %s presented, %s (%s), in %s: compare it with `dist-server key` on the primary; --key KEY pins the key you give instead\n",
				from, k, k.Fingerprint(), t.Path)
		},
	}))
}

// withPrimaryHint adds to a mirror's error what to check when the primary
// could not be reached (a refused connection, a name that does not
// resolve: the mirror said only "sync: … connection refused" and, started
// in the background, "see server.log") or refused it (401, 403, or a
// redirect to where its password does not go: the error alone did not say
// where a mirror's user and password go, nor that a 403 is none of its
// business to fix). The background mirror writes this hint into the log,
// where its start-up error is read from (startupError).
func withPrimaryHint(primaries []string, err error) error {
	var h *cli.Hinted
	if err == nil || errors.As(err, &h) {
		return err
	}
	if hint := primaryHint(primaries, err); hint != "" {
		return cli.WithHint(err, hint)
	}
	return err
}

// primaryHint is withPrimaryHint's hint, "" for none.
func primaryHint(primaries []string, err error) string {
	// Whether the primary that refused was given a password is its own
	// (PasswordSent): of two, one with a password and one without, the
	// hint for the one without told the user to check its password.
	ref := httpbound.RefusalIn(err, primaries)
	who := "the primary"
	if ref.URL != "" && len(primaries) > 1 {
		who += " " + ref.URL
	}
	switch {
	case catalogclient.Unreachable(err):
		return fmt.Sprintf("no dist-server answered at %s: check that the primary runs and that the URL given to dist-server mirror is its public_url (dist-server start on the primary prints it)", strings.Join(redact.URLs(primaries), ", "))
	case ref.NotSent:
		return "the primary redirected the request to another scheme, host or port, which distpac sends no user and password to (they go only to the URLs dist-server mirror follows): give it the URL the primary redirects to (https:// for a redirect to https)"
	case ref.Code == http.StatusForbidden:
		refused := cmp.Or(ref.URL, "the primary")
		if ref.Password {
			return refused + " refuses this user (403 Forbidden: the password was taken, and the user is not allowed there): ask the primary's administrator to allow the mirror's user, or check the user and URL given to dist-server mirror"
		}
		return refused + " refuses the request (403 Forbidden: the server forbids that path, or allows only some users or addresses): check the URL given to dist-server mirror, or ask the primary's administrator to allow this mirror"
	case ref.Code == http.StatusUnauthorized && ref.Password:
		return who + " asks for a user and password (HTTP basic auth) and refused those in its URL: check them"
	case ref.Code == http.StatusUnauthorized:
		return who + " asks for a user and password (HTTP basic auth): give them in its URL, as http(s)://USER:PASSWORD@HOST[:PORT], in " + primaryURLsEnv + " rather than on the command line, which every user of this host can read"
	}
	return ""
}

// rememberedPrimaries is, for a start given no URL, the URLs the last
// mirror started in sp followed (server.RememberedPrimaries); nil when
// none is recorded. One that held a password is refused: the record
// keeps it masked, and it must be given again.
func rememberedPrimaries(sp paths.Server) ([]string, error) {
	urls, err := server.RememberedPrimaries(sp)
	if err != nil {
		return nil, cli.Usagef("mirror: no primary URL given, and the one remembered does not read (%v): give it as an argument, or in %s", err, primaryURLsEnv)
	}
	for _, u := range urls {
		if pu, err := url.Parse(u); err == nil && pu.User != nil {
			if _, ok := pu.User.Password(); ok {
				return nil, cli.Usagef("mirror: no primary URL given, and the one this data home followed, %s, has a password, which is not kept: give it again in %s", u, primaryURLsEnv)
			}
		}
	}
	return urls, nil
}

// primaryURLsEnv names the environment variable a mirror reads its
// primary's URLs from when none is given as an argument.
const primaryURLsEnv = "DISTPAC_PRIMARY_URLS"

// primaryURLs returns the URLs to follow: the arguments, or without any
// those of env (primaryURLsEnv's value), checked.
func primaryURLs(args []string, env string) ([]string, error) {
	if len(args) == 0 {
		args = strings.Fields(env)
		if len(args) == 0 {
			return nil, cli.Usagef("mirror: no primary URL: give it as an argument, or in %s (there, unlike on the command line, other users cannot read a password it holds)", primaryURLsEnv)
		}
		if len(args) > config.MaxServers {
			return nil, cli.Usagef("mirror: %s holds %d URLs, at most %d are tried", primaryURLsEnv, len(args), config.MaxServers)
		}
	}
	return args, checkPrimaryURLs(args)
}

// checkPrimaryURLs checks each URL a mirror follows, and that none is
// given twice (as a client's server_urls refuses): the second would only
// be the first tried again, and one that differs only in its password
// would share its entry in the mirror's servers.json (config.Repeated).
func checkPrimaryURLs(args []string) error {
	for i, a := range args {
		if err := checkPrimaryURL(a); err != nil {
			return err
		}
		if j, twoPasswords := config.Repeated(args, i); twoPasswords {
			return cli.Usagef("mirror: %q is given twice, with two passwords (URLs %d and %d): %s", redact.URL(a), j+1, i+1, config.TwoPasswords)
		} else if j >= 0 {
			return cli.Usagef("mirror: %q is given twice (URLs %d and %d)", redact.URL(a), j+1, i+1)
		}
	}
	return nil
}

// checkPrimaryURL accepts the base URL of a server to follow (its
// public_url), to which the catalog's paths are appended. A URL of one of
// the files served there (…/packages.db) is refused rather than trimmed:
// the URL given is the one clients list in server_urls beside the
// primary, and there too it must be the base (config.CheckBaseURL, which
// client.yaml's server_url and server_urls pass too).
func checkPrimaryURL(a string) error {
	u, err := url.Parse(a)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cli.Usagef("mirror: %q: want the primary's URL, http://HOST[:PORT] or https://…", redact.URL(a))
	}
	if err := config.CheckBaseURL(a); err != nil {
		return cli.Usagef("mirror: %w", err)
	}
	return nil
}

// mirrorIgnores lists the keys of the server.yaml at path that a mirror does not use: a
// newcomer set tracker_addr, public_url and web_seed there and was told
// nothing.
func mirrorIgnores(path string) []string {
	given, _ := config.GivenKeys(path) // the file was read once already: an error there stopped the command
	var out []string
	for _, k := range given {
		if !slices.Contains(mirrorKeys, k) {
			out = append(out, k)
		}
	}
	return out
}

// mirrorKeys are the server.yaml keys a mirror uses.
var mirrorKeys = []string{"database_addr", "peer_addr", "upload_rate_limit", "metrics_addr"}

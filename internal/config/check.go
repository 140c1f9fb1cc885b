package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/distpac/distpac/internal/redact"
)

// checkAddr accepts a listen address "host:port" with a numeric port
// (0 = any free port). Service names are refused: they depend on
// /etc/services and hide typos.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port (like \":9090\"), got %q", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q in %q: want a number from 0 to 65535", port, addr)
	}
	return nil
}

// checkURL accepts an absolute URL with a host and one of the schemes.
// A host:port without a scheme (127.0.0.1:9090, which url.Parse takes
// for a scheme "127.0.0.1" or fails on) is named as such, with the URL
// meant (a newcomer's run read only "is not a URL").
func checkURL(s string, schemes ...string) error {
	u, err := url.Parse(s)
	q := redact.URL(s) // as the errors quote it: a password masked
	if err != nil || !slices.Contains(schemes, u.Scheme) {
		if !strings.Contains(s, "://") && checkAddr(s) == nil {
			return fmt.Errorf("%q has no scheme: want a URL, like %s://%s", q, schemes[0], q)
		}
	}
	if err != nil {
		return fmt.Errorf("%q is not a URL", q)
	}
	if !slices.Contains(schemes, u.Scheme) {
		return fmt.Errorf("%q: want a URL starting with %s", q, joinOr(schemes))
	}
	if u.Host == "" {
		return fmt.Errorf("%q: URL has no host", q)
	}
	if u.Port() != "" {
		if _, err := strconv.ParseUint(u.Port(), 10, 16); err != nil {
			return fmt.Errorf("%q: port %q: want a number from 0 to 65535", q, u.Port())
		}
	}
	return nil
}

// ServedFiles are the paths under a catalog server's base URL where it
// serves its files: catalogclient's PathCatalog and the rest, which a test
// there holds equal to these (config stays a leaf, without the network).
var ServedFiles = []string{"/packages.db", "/packages.db.sig", "/packages.db.rotation", "/key"}

// CheckBaseURL refuses the URL of one of ServedFiles where a server's base
// URL is wanted (server_url, server_urls, dist-server mirror URL), naming
// the base URL to give instead: the catalog's paths are appended to it, so
// .../packages.db would fetch .../packages.db/packages.db. It is refused
// rather than trimmed, since the same URL goes into other lists (a
// mirror's primary is listed in server_urls beside it) and must be the
// base there too. A string that is no URL is left to checkURL.
func CheckBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return nil
	}
	p := strings.TrimRight(u.Path, "/")
	for _, f := range ServedFiles {
		if strings.HasSuffix(p, f) {
			base := *u
			base.Path, base.RawPath, base.RawQuery, base.Fragment = strings.TrimSuffix(p, f), "", "", ""
			return fmt.Errorf("%q is the URL of a file the server serves (%s): give the server's base URL (its public_url): %s", redact.URL(s), strings.TrimPrefix(f, "/"), redact.URL(base.String()))
		}
	}
	return nil
}

// checkPublished refuses a user or password in a URL the server
// publishes (key: public_url, announce_url, announce_urls): it goes into
// every torrent (public_url as the web seed, the trackers as its announce
// list) and the catalog's magnet links, which every client, and anyone a
// torrent is given to, reads. A publisher behind basic auth wrote its
// public_url with its password, and every client could read it there.
// Its clients write their own user and password in their server_url; a
// mirror's primary URL (dist-server mirror) may hold one, being nowhere
// published. A user alone is refused too: a token is often given as one.
func checkPublished(s, key string) error {
	if !redact.HasUser(s) {
		return nil
	}
	what := "a user name"
	if redact.HasPassword(s) {
		what = "a user and password"
	}
	return fmt.Errorf("%q holds %s: %s goes into every torrent and the catalog, which every client reads, so it would publish them: give it without (clients of a private repository write their own user and password in their server_url)",
		redact.URL(s), what, key)
}

// joinOr lists schemes for a message: "http://", "http:// or https://",
// "http://, https:// or udp://".
func joinOr(schemes []string) string {
	xs := make([]string, len(schemes))
	for i, s := range schemes {
		xs[i] = s + "://"
	}
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// trimSlash drops trailing slashes from a base URL so that callers can
// append "/packages.db", but never the ones of "scheme://" itself.
func trimSlash(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return strings.TrimRight(s, "/")
	}
	return scheme + "://" + strings.TrimRight(rest, "/")
}

// checkURLList checks a list of http(s) URLs: at most max, each valid,
// none twice.
func checkURLList(urls []string, max int) error {
	if len(urls) > max {
		return fmt.Errorf("%d URLs, at most %d", len(urls), max)
	}
	for i, u := range urls {
		if err := checkURL(u, "http", "https"); err != nil {
			return fmt.Errorf("entry %d: %w", i+1, err)
		}
		if j, twoPasswords := Repeated(urls, i); twoPasswords {
			return fmt.Errorf("entry %d: %q is entry %d too, but for its password: %s", i+1, redact.URL(u), j+1, TwoPasswords)
		} else if j >= 0 {
			return fmt.Errorf("entry %d: %q is entry %d too", i+1, redact.URL(u), j+1)
		}
	}
	return nil
}

// SameServer reports whether URLs a and b name one server as every
// message and file shows it: the same URL but for trailing slashes and
// its password, which they mask (redact.URL). Two such entries of
// server_urls (or of a mirror's primaries) shared one servers.json entry,
// the order of servers by past failures, and could not be told apart in
// sync's messages or by sync --from; a server takes one password for a
// user, so the other only ever failed.
func SameServer(a, b string) bool {
	return redact.URL(trimSlash(a)) == redact.URL(trimSlash(b))
}

// Repeated returns the first of urls[:i] that names the server urls[i]
// names (SameServer), -1 for none, and whether the two differ in their
// password and not only in trailing slashes: the one check of
// server_urls, announce_urls and a mirror's primaries.
func Repeated(urls []string, i int) (j int, twoPasswords bool) {
	j = slices.IndexFunc(urls[:i], func(v string) bool { return SameServer(urls[i], v) })
	return j, j >= 0 && trimSlash(urls[j]) != trimSlash(urls[i])
}

// TwoPasswords says why two URLs that differ only in their password are
// refused (SameServer).
const TwoPasswords = "a server takes one password for a user, and messages and servers.json show the two alike (USER:xxxxx@): keep the one that works"

// InUse adds to err, when another program holds the address a listener
// was given, which configuration key sets it: "bind: address already in
// use" alone does not say that a second dist-server or daemon, or another
// program, has database_addr, tracker_addr or peer_addr. anyPort suggests
// port 0 (any free port) too: only for a client's peer_addr. The server's
// addresses are in the URLs and magnet links clients are given
// (announce_url and public_url derive from them, the seeder's peer_addr is
// the magnets' x.pe), and a port chosen anew at each start is in none of
// them (a newcomer's run: torrents announced to port 0).
func InUse(key string, anyPort bool, err error) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return err
	}
	if anyPort {
		return fmt.Errorf("%w (another program has that address: set a free one as %s, or port 0 for any)", err, key)
	}
	return fmt.Errorf("%w (another program has that address: set a free one as %s)", err, key)
}

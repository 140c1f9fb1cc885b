// Package redact hides the password of a URL wherever distpac shows or
// records one: a server_url, a mirror's primary or a web seed may carry a
// user and password for a server behind HTTP basic auth
// (https://user:secret@repo.example/), and Go's HTTP client sends them as
// the Authorization header. The URL stays whole where it is used to
// connect; every message, log line, --json field and file written beside
// the configuration shows it as URL returns it.
package redact

import (
	"net/url"
	"strings"
)

// Mask stands for a password, as url.URL.Redacted writes it.
const Mask = "xxxxx"

// URL is s with the password of its userinfo replaced by Mask
// (user:xxxxx@), as url.URL.Redacted gives it; a URL without a password
// is returned as it is. A string that does not parse as a URL with
// userinfo (a bad port, a space, a host:port without a scheme, all of
// which configuration errors quote) is masked by its text: whatever lies
// between the first ':' and the last '@' of its authority. Masking a
// masked URL changes nothing, so a file written by a version that kept
// passwords reads back masked.
func URL(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	u, err := url.Parse(s)
	if err == nil && u.User != nil {
		return u.Redacted()
	}
	return maskText(s, err != nil)
}

// HasPassword reports whether s carries a password URL would mask (a URL
// already masked carries none).
func HasPassword(s string) bool { return URL(s) != s }

// HasUser reports whether s carries a user, with a password or without
// (a token is often given as one): its userinfo when it parses, else a
// password found by its text (HasPassword).
func HasUser(s string) bool {
	if u, err := url.Parse(s); err == nil {
		return u.User != nil
	}
	return HasPassword(s)
}

// URLs is URL of each of us, in a new slice.
func URLs(us []string) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = URL(u)
	}
	return out
}

// maskText masks the password of s's authority, found by its text: after
// "://" (or from the start without one), up to the first '/', '?' or '#',
// the userinfo before its last '@'. In a string url.Parse refused
// (broken), a '/', '?' or '#' before the last '@' of all that follows
// "://" is taken for a character of the password, not the authority's
// end: "https://user:pa#ss@host/" does not parse ("pa" is no port), and
// cut at its '#' it held no '@', so its configuration error quoted the
// password whole. Masking too much of a broken URL costs nothing; a URL
// that parses, with an '@' in its path ("http://host:80/v@1"), keeps it.
func maskText(s string, broken bool) string {
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + len("://")
	}
	end := len(s)
	if i := strings.IndexAny(s[start:], "/?#"); i >= 0 {
		end = start + i
	}
	at := strings.LastIndex(s[start:end], "@")
	if at < 0 && broken {
		at = strings.LastIndex(s[start:], "@")
	}
	if at < 0 {
		return s
	}
	colon := strings.Index(s[start:start+at], ":")
	if colon < 0 {
		return s // a user name alone: not a secret
	}
	return s[:start+colon+1] + Mask + s[start+at:]
}

// WithoutUser is s without its userinfo (user, password and '@'): the
// location a URL names, for telling whether two URLs name one place
// whatever credentials they carry. A string that does not parse is
// returned masked (URL).
func WithoutUser(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return URL(s)
	}
	u.User = nil
	return u.String()
}

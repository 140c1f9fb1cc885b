// Package httpbound bounds what one HTTP GET of a client may cost before
// its reply's headers: at most MaxRedirects redirects, and the headers
// within a time over the whole chain. The catalog client (sync), the
// engine's web seeds and the dry run's probes all send their requests
// through it: each hop of a redirect chain had the transport's timeouts
// of its own, and ten hops of a server that answered each after 4.8 s held
// a sync for 48 s and an install for 49 s, the next server untried (an
// attacker's run). Its CheckRedirect also decides where the user and
// password of a URL (a private repository's basic auth) go on a redirect:
// to the origin they were written for, and nowhere else.
package httpbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/redact"
)

// MaxRedirects is how many redirects a request follows (Go's default is
// ten): a catalog server needs none, a static server or CDN one or two (to
// https, to a bucket).
const MaxRedirects = 3

// CheckRedirect is an http.Client's CheckRedirect that follows at most
// MaxRedirects redirects, and sends the user and password of the first
// URL of the chain (https://USER:PASSWORD@HOST/, which Go's client sends
// as basic auth) to that URL's origin alone: its scheme, host and port.
//
// Go's client alone (go1.26, TestCheckRedirectCredentials) keeps them on
// a redirect to a path ("Location: /repo/"), which resolves against the
// URL with its user; it drops them on an absolute Location, even to the
// same origin (nginx writes its redirects absolute by default), so a
// private repository's /repo -> /repo/ answered 401 and the sync's hint
// blamed the password. They are given back here to a hop of the same
// origin. To another host, port or scheme they never go (Go's client
// does not carry them there either; an http -> https hop is another
// origin too: a password that went over plain HTTP first wants an
// https:// URL in the configuration; NotSent tells such a reply),
// and an Authorization header a caller set is dropped there too (Go's
// client keeps one for another port of the same host, or a subdomain).
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("more than %d redirects", MaxRedirects)
	}
	first := via[0].URL
	switch {
	case !SameOrigin(req.URL, first):
		req.Header.Del("Authorization")
	case first.User != nil && req.URL.User == nil:
		u := *req.URL
		u.User = first.User
		req.URL = &u
	}
	return nil
}

// SameOrigin reports whether a and b have one scheme, host and port (a
// port left out is the scheme's default).
func SameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// port is u's port, or its scheme's default.
func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// ErrUnauthorized and ErrForbidden match a server's 401 and 403 answers,
// a catalog's (catalogclient) and a web seed's (swarm) alike, so that a
// sync and an install get the one hint of where the user and password go
// (dist-client's serverHint): an archive's 401 had none.
var (
	ErrUnauthorized = errors.New("401 Unauthorized")
	ErrForbidden    = errors.New("403 Forbidden")
)

// Refused is ErrUnauthorized for a 401, ErrForbidden for a 403, and nil
// for any other status code.
func Refused(code int) error {
	switch code {
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	}
	return nil
}

// RefusedURL is the URL, as messages show it (its password masked), that
// a server answered with code (a 401 or 403) in err: the first error of
// err's tree, depth first as errors.As walks it, that names one (a
// catalog's answer, a web seed's); "" for none. dist-client's one hint for
// a 403 names it, whether the sync or an archive's download met it.
func RefusedURL(err error, code int) string {
	if r, ok := err.(interface{ RefusedURL(code int) string }); ok {
		if u := r.RefusedURL(code); u != "" {
			return u
		}
	}
	switch x := err.(type) {
	case interface{ Unwrap() error }:
		return RefusedURL(x.Unwrap(), code)
	case interface{ Unwrap() []error }:
		for _, e := range x.Unwrap() {
			if u := RefusedURL(e, code); u != "" {
				return u
			}
		}
	}
	return ""
}

// PasswordSent reports whether the request a server refused (refused, a
// URL as RefusedURL gives it, its password masked) carried a password,
// for a hint that says whether to check the password or to give one:
// when its URL holds one, or it is under one of servers (the URLs as
// configured, passwords and all) that gives one (same origin, and its
// path under that server's); for a refused URL not known (""), when
// every one of servers gives one. Asked whether any of servers gave one,
// the hints of a client of two servers, one with a password and one
// without, told the user to check the password of the one without.
func PasswordSent(refused string, servers []string) bool {
	if refused == "" {
		for _, s := range servers {
			if !redact.HasPassword(s) {
				return false
			}
		}
		return len(servers) > 0
	}
	r, err := url.Parse(refused)
	if err != nil {
		return false
	}
	if _, ok := r.User.Password(); ok {
		return true
	}
	for _, s := range servers {
		u, err := url.Parse(s)
		if err != nil || !SameOrigin(r, u) {
			continue
		}
		base := strings.TrimSuffix(u.Path, "/")
		if (r.Path == base || strings.HasPrefix(r.Path, base+"/")) && redact.HasPassword(s) {
			return true
		}
	}
	return false
}

// Refusal is what a hint needs of a 401 or 403 in an error: dist-client's
// (serverHint) and a mirror's (primaryHint) worked it out each its own
// way, in near-copies.
type Refusal struct {
	// Code is 403 when err holds a 403 (ErrForbidden), else 401 when it
	// holds a 401 (ErrUnauthorized), else 0 (no refusal: the rest is
	// zero).
	Code int
	// NotSent: the refusal came from where a redirect led, which got no
	// user and password (ErrNotSent): checking the password cannot help.
	NotSent bool
	// URL is the refused URL as messages show it (RefusedURL); "" when
	// none is known.
	URL string
	// Password: the refused request carried a password (PasswordSent).
	Password bool
}

// RefusalIn reads the refusal in err for a client of servers (the URLs
// as configured, passwords and all).
func RefusalIn(err error, servers []string) Refusal {
	var r Refusal
	switch {
	case errors.Is(err, ErrForbidden):
		r.Code = http.StatusForbidden
	case errors.Is(err, ErrUnauthorized):
		r.Code = http.StatusUnauthorized
	default:
		return r
	}
	r.NotSent = errors.Is(err, ErrNotSent)
	r.URL = RefusedURL(err, r.Code)
	r.Password = PasswordSent(r.URL, servers)
	return r
}

// ErrNotSent matches a *NotSentError.
var ErrNotSent = errors.New("the user and password were not sent")

// NotSentError is a reply from a server that a redirect led to from a
// URL with a user and password, which CheckRedirect sent it without:
// another host, port or scheme than the URL's.
type NotSentError struct {
	To string // the URL of the last hop, as messages show it (no userinfo)
}

func (e *NotSentError) Error() string {
	return fmt.Sprintf("redirected to %s, another scheme, host or port, which the user and password are not sent to", e.To)
}

func (e *NotSentError) Is(target error) bool { return target == ErrNotSent }

// NotSent is a *NotSentError when resp comes, after redirects, from
// another origin than the URL its request chain started from, which had
// a user and password (or an Authorization header): the request that got
// resp went without them, and a 401 or 403 says nothing of the password.
// Otherwise it is nil.
func NotSent(resp *http.Response) error {
	last := resp.Request
	if last == nil {
		return nil
	}
	first := last
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	if first == last || first.URL.User == nil && first.Header.Get("Authorization") == "" || SameOrigin(first.URL, last.URL) {
		return nil
	}
	to := *last.URL
	to.User = nil
	return &NotSentError{To: to.String()}
}

// ErrNoHeaders is a request whose reply's headers did not come in time.
var ErrNoHeaders = errors.New("no reply headers in time")

// Do sends req with c and returns the reply once its headers came within
// of the request, redirects included; otherwise the error (a *url.Error
// when c's was, naming the last URL of the chain) matches ErrNoHeaders and
// reads "no answer within WITHIN, redirects included". The reply's body
// ends the request's context when closed; headers that come as the time
// passes are refused as late (the body's reads would fail with a bare
// "context canceled").
func Do(c *http.Client, req *http.Request, within time.Duration) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	late := &noHeaders{within}
	timer := time.AfterFunc(within, func() { cancel(late) })
	resp, err := c.Do(req.WithContext(ctx))
	if !timer.Stop() && err == nil && context.Cause(ctx) == late {
		resp.Body.Close()
		resp, err = nil, &url.Error{Op: "Get", URL: req.URL.String(), Err: late}
	}
	if err != nil {
		if context.Cause(ctx) == late && req.Context().Err() == nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				ue.Err = late
			} else {
				err = late
			}
		}
		cancel(nil)
		return nil, err
	}
	resp.Body = &cancelOnClose{resp.Body, func() { cancel(nil) }}
	return resp, nil
}

// noHeaders is the cause of a request that Do gave up.
type noHeaders struct{ within time.Duration }

func (e *noHeaders) Error() string {
	return fmt.Sprintf("no answer within %s, redirects included", e.within)
}

func (e *noHeaders) Is(target error) bool { return target == ErrNoHeaders }

// cancelOnClose ends a request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel func()
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// Package httpbound bounds what one HTTP GET of a client may cost before
// its reply's headers: at most MaxRedirects redirects, and the headers
// within a time over the whole chain. The catalog client (sync) and the
// engine's web seeds both send their requests through it: each hop of a
// redirect chain had the transport's timeouts of its own, and ten hops of
// a server that answered each after 4.8 s held a sync for 48 s and an
// install for 49 s, the next server untried (an attacker's run).
package httpbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// MaxRedirects is how many redirects a request follows (Go's default is
// ten): a catalog server needs none, a static server or CDN one or two (to
// https, to a bucket).
const MaxRedirects = 3

// CheckRedirect is an http.Client's CheckRedirect that follows at most
// MaxRedirects redirects.
func CheckRedirect(_ *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("more than %d redirects", MaxRedirects)
	}
	return nil
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

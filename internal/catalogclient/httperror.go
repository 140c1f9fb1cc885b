package catalogclient

// What a server's answer says when it is not the file asked for, or when
// there is none: the errors a sync's hints tell apart (unreachable, no
// catalog at that URL, a 401 or a 403, a redirect the password did not
// follow).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/httpbound"
)

// ErrNoCatalogHere: the server answered a bare 404 for the catalog, as a
// web server does for a path that is not the base URL.
var ErrNoCatalogHere = errors.New("no catalog at this URL")

// Unreachable reports whether err is a failure to reach the server at all,
// every server's for a ServersError: its host name does not resolve, or
// the connection is refused or cannot be made. The URL is then the first
// thing to check: a refused connection had that hint, and a host name
// that does not resolve (no-such-host.invalid) had none (a newcomer's run).
func Unreachable(err error) bool {
	var se ServersError
	if errors.As(err, &se) {
		for _, f := range se {
			if !Unreachable(f.Err) {
				return false
			}
		}
		return len(se) > 0
	}
	var dns *net.DNSError
	var op *net.OpError
	return errors.As(err, &dns) || errors.As(err, &op) && op.Op == "dial"
}

// trackerFailure is how a BitTorrent tracker's answer with a failure
// reason starts (BEP 3: a bencoded dictionary, whose keys are sorted, of
// "failure reason" alone), before the reason's length.
const trackerFailure = "d14:failure reason"

// trackerAnswered is the error of a non-200 answer that a BitTorrent
// tracker gave, nil for any other (its body then reads as before): a
// server_url of dist-server's tracker_addr got the tracker's 404 for
// /packages.db, and the error said only that the URL must be the base
// one, as of a web server's path (a newcomer's run). The tracker answers
// a path it does not serve with a failure reason (internal/tracker), as
// trackers answer; the answer is recognised by that bencoding alone, a
// failure reason's length and then its text.
func trackerAnswered(u string, resp *http.Response) error {
	head, _ := io.ReadAll(io.LimitReader(resp.Body, int64(len(trackerFailure)+8)))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	rest, ok := strings.CutPrefix(string(head), trackerFailure)
	if n := strings.IndexByte(rest, ':'); !ok || n < 1 || strings.Trim(rest[:n], "0123456789") != "" {
		return nil
	}
	return fmt.Errorf("GET %s: %d %s (%w: it answered as a BitTorrent tracker does, with a bencoded failure reason, so it is a tracker's port, such as dist-server's tracker_addr; the catalog is served on dist-server's database_addr, the URL dist-server start prints after \"catalog:\")",
		u, resp.StatusCode, http.StatusText(resp.StatusCode), ErrNoCatalogHere)
}

// maxBodyExcerpt bounds the part of an error body that httpError shows:
// the server's own messages are one short line.
const maxBodyExcerpt = 200

// httpError describes a non-200 answer, with the first line of a plain-text
// body when it says more than the status: the server's messages say what
// is wrong ("no catalog published yet"), Go's "404 page not found" does not.
func httpError(u string, resp *http.Response) error {
	err, _ := httpErrorSaid(u, resp)
	return err
}

// ErrUnauthorized: the server answered 401 Unauthorized, asking for a
// user and password (HTTP basic auth) that the server URL does not give
// or that it refused. A private repository behind a web server's basic
// auth takes them in the URL: https://USER:PASSWORD@HOST/.
var ErrUnauthorized = httpbound.ErrUnauthorized

// ErrForbidden: the server answered 403 Forbidden. Behind basic auth it
// knows the user and refuses it (the user is not allowed this
// repository, or the path is forbidden to all): unlike a 401, the
// password is not what to check.
var ErrForbidden = httpbound.ErrForbidden

// statusError is a non-200 answer (httpError), which matches
// ErrUnauthorized when it is a 401 and ErrForbidden when it is a 403.
// After a redirect to another origin, which the user and password were
// not sent to, it wraps httpbound.NotSent's error.
type statusError struct {
	msg     string
	code    int
	url     string // the URL asked, as messages show it
	notSent error
}

func (e *statusError) Error() string { return e.msg }
func (e *statusError) Unwrap() error { return e.notSent }
func (e *statusError) Is(target error) bool {
	return target != nil && target == httpbound.Refused(e.code)
}

// RefusedURL is the URL asked, as messages show it, when the server
// answered it code (httpbound.RefusedURL); "" otherwise.
func (e *statusError) RefusedURL(code int) string {
	if e.code == code {
		return e.url
	}
	return ""
}

// httpErrorSaid is httpError, and whether the server's body said more than
// the status.
func httpErrorSaid(u string, resp *http.Response) (_ error, said bool) {
	msg := fmt.Sprintf("GET %s: %d %s", u, resp.StatusCode, http.StatusText(resp.StatusCode)) // not the server's reason phrase: it reaches terminals
	notSent := httpbound.NotSent(resp)
	if notSent != nil {
		msg += " (" + notSent.Error() + ")"
	}
	newError := func(msg string) *statusError { return &statusError{msg, resp.StatusCode, u, notSent} }
	if mediaType(resp) != "text/plain" {
		return newError(msg), false
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	line = strings.TrimSpace(line)
	// "502 Bad Gateway: upstream timed out" says the status before what
	// it adds.
	for {
		head, rest, ok := strings.Cut(line, ":")
		if !ok || !restatesStatus(head, resp.StatusCode) {
			break
		}
		line = strings.TrimSpace(rest)
	}
	if line == "" || restatesStatus(line, resp.StatusCode) {
		return newError(msg), false
	}
	excerpt := catalog.Printable([]byte(line[:min(len(line), maxBodyExcerpt)])) // no terminal escapes from a server
	if len(line) > maxBodyExcerpt {
		excerpt += "..."
	}
	return newError(msg + ": " + excerpt), true
}

// restatesStatus reports whether a body line holds no word beside the
// status code, the words of its text and "page", "error" or "http", in any
// case: "404 page not found", "Not Found", "HTTP 503: service unavailable".
func restatesStatus(line string, code int) bool {
	known := strings.Fields(strings.ToLower(fmt.Sprintf("%d %s page error http", code, http.StatusText(code))))
	words := strings.FieldsFunc(strings.ToLower(line), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for _, w := range words {
		if !slices.Contains(known, w) {
			return false
		}
	}
	return true
}

func mediaType(resp *http.Response) string {
	ct := resp.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(ct))
	}
	return mt
}

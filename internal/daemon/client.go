package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/httpbound"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/ui"
)

// Client talks to a running daemon.
type Client struct {
	http    *http.Client
	pid     int       // the daemon's, as it answered Dial
	started time.Time // when it started, as it answered Dial (zero: not said)
}

// Close drops the connections the client keeps open to the daemon (Dial
// leaves one idle for the next request). A client no one will ask again
// should be closed: each open connection holds two goroutines.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Started is when the daemon that answered Dial started (zero when it
// did not say).
func (c *Client) Started() time.Time { return c.started }

// PID is the process ID of the daemon that answered Dial: a daemon that
// answers after one said it is stopping is another one (a restart) when
// it differs.
func (c *Client) PID() int { return c.pid }

// Dial returns a client when a daemon answers on the socket at path, and
// nil when none runs there.
func Dial(ctx context.Context, path string) *Client {
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	c := &Client{http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := c.status(ctx, false)
	if err != nil {
		return nil
	}
	c.pid, c.started = st.PID, st.Started
	return c
}

// Status asks the daemon for its counters and every torrent of its engine.
func (c *Client) Status(ctx context.Context) (Status, error) {
	return c.status(ctx, true)
}

// status asks for the status, with the torrents' list or without it (a
// daemon older than the parameter sends it anyway; it then gets
// maxStatusBytes too).
func (c *Client) status(ctx context.Context, items bool) (Status, error) {
	var st Status
	url, limit := "http://daemon/status", int64(maxStatusBytes)
	if !items {
		url += "?items=0"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return st, fmt.Errorf("daemon: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("daemon: %s", shownField(resp.Status))
	}
	r := &io.LimitedReader{R: resp.Body, N: limit + 1}
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		if r.N <= 0 {
			return st, fmt.Errorf("daemon: status over %d MiB", limit>>20)
		}
		// A JSON error quotes what it met: a number of megabytes.
		return st, fmt.Errorf("daemon: bad status: %s", ui.Untrusted(err.Error(), maxShownError))
	}
	st.shown()
	return st, nil
}

// Download has the daemon fetch request's items into its cache (holding
// its Keep packages' archives out of a trim meanwhile), calling progress
// for each event, and returns when all are complete. every asks for
// progress events that often (0: the daemon's default, progressEvery); a
// daemon older than the parameter ignores it.
func (c *Client) Download(ctx context.Context, request Request, every time.Duration, progress func(Event)) error {
	body, err := json.Marshal(request)
	if err != nil {
		return err
	}
	url := "http://daemon/download"
	if every > 0 {
		url += "?progress_ms=" + strconv.FormatInt(every.Milliseconds(), 10)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	// Asking again is harmless (the daemon joins a download under way
	// and goes on from what it verified), so the request may be sent
	// again on a new connection when the one Dial left open was closed
	// before any answer (the daemon's side closed it as idle as the
	// request went out): this header is what lets net/http resend a
	// POST. It failed with "daemon: Post …: EOF".
	req.Header.Set("Idempotency-Key", "download")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("daemon: %w", err)
		}
		// No answer at all from the daemon Dial found: it exited (or
		// its connections break) between the two, as one that leaves a
		// download in the middle (ErrGone).
		return goneError{fmt.Errorf("daemon: %w (%s)", err, daemonGone)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		line, _, _ := strings.Cut(strings.TrimSpace(string(msg)), "\n")
		if line == "" {
			line = resp.Status
		}
		line = ui.Untrusted(line, maxShownError)
		// A daemon started before Keep existed (the binary was upgraded
		// under it) refuses the field: it is asked again without it, as
		// it downloaded before.
		if resp.StatusCode == http.StatusBadRequest && len(request.Keep) > 0 && strings.Contains(line, `unknown field "keep"`) {
			request.Keep = nil
			return c.Download(ctx, request, every, progress)
		}
		return fmt.Errorf("daemon: %s", line)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	sc.Split(wholeLines)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("daemon: bad event: %s", ui.Untrusted(err.Error(), maxShownError))
		}
		ev.shown()
		if err := ev.checkProgress(); err != nil {
			return err
		}
		if progress != nil {
			progress(ev)
		}
		if ev.Error != "" {
			err := eventError(ev.Error)
			if rest, ok := strings.CutPrefix(ev.Error, ErrStopping.Error()); ok {
				err = fmt.Errorf("daemon: %w%s", ErrStopping, rest)
			}
			switch {
			case ev.Refused != nil:
				err = refused{err, *ev.Refused}
			case ev.Unauthorized: // a daemon older than Refused
				err = refused{err, Refusal{Unauthorized: true}}
			}
			if ev.Unreachable {
				err = unreachable{err}
			}
			if ev.FailedArchive != "" {
				return &ArchiveError{Archive: ev.FailedArchive, Err: err}
			}
			return err
		}
		if ev.Finished {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("daemon: an event line over %d bytes", maxEventBytes)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errHalfEvent) {
			return goneError{fmt.Errorf("daemon: connection closed in the middle of an event (%s)", daemonGone)}
		}
		return goneError{fmt.Errorf("daemon: %w (%s)", err, daemonGone)}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return goneError{fmt.Errorf("daemon: connection closed before the download finished (%s)", daemonGone)}
}

// wholeLines is bufio.ScanLines without its last, unterminated line: the
// daemon ends every event with a newline, so text after the last one is an
// event cut short (the connection closed or the download was cancelled
// while it was sent), which errHalfEvent says instead of a "bad event" about
// the half line (an attacker's run saw "daemon: bad event: unexpected end
// of JSON input" after Ctrl-C).
func wholeLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return bufio.ScanLines(data[:i+1], false)
	}
	if atEOF && len(data) > 0 {
		return 0, nil, errHalfEvent
	}
	return 0, nil, nil
}

var errHalfEvent = errors.New("an event cut short")

// ErrGone matches a download whose connection to the daemon broke before
// it finished, with no error from the daemon: the daemon exited (killed,
// crashed) under it. The install then downloads the rest itself
// (internal/fetch).
var ErrGone = errors.New("the daemon stopped answering")

// ErrStopping ends the requests in flight when the daemon stops (SIGTERM:
// systemctl stop or restart, an upgrade), and matches a download that
// ended so: the daemon says it in the error event, which the client knows
// by its text, so that the words of every daemon since the stop said them
// count, a daemon of the version an upgrade replaces included. The
// install then waits a moment for a daemon to answer again, and goes on
// from what this one verified (internal/fetch).
var ErrStopping = errors.New("the daemon is stopping")

// goneError is a download the daemon left (ErrGone).
type goneError struct{ error }

func (e goneError) Unwrap() error        { return e.error }
func (e goneError) Is(target error) bool { return target == ErrGone }

// daemonGone says what a connection to the daemon that broke mid-download
// most likely means: the daemon exited (killed, crashed, or stopped
// without the word a stop sends). What its partial file keeps in the
// cache is the install's to say, with the figure and the package, and
// nothing when nothing is (install's sayKept): this said "What was
// downloaded is kept, and the next install resumes it" beside that
// warning, and with nothing kept too.
const daemonGone = "the daemon stopped answering: is it still running (dist-client status)?"

// refused is a download's error from the daemon that web seeds' 401 or
// 403 ended (Event.Refused): it matches httpbound's errors and gives the
// 403's and the 401's URLs (httpbound.RefusedURL) as the engine's error did before it
// crossed the socket as text.
// eventError is the error of a download the daemon says failed with msg:
// "download X (through the daemon): why" for its "download X: why". It
// read "daemon: download X: ...", as if the daemon had failed (a
// newcomer's run). Other words keep the "daemon: " before them.
func eventError(msg string) error {
	if head, why, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(head, "download ") {
		return fmt.Errorf("%s (through the daemon): %s", head, why)
	}
	return fmt.Errorf("daemon: %s", msg)
}

// unreachable is a download error whose every source refused the
// connection (Event.Unreachable): it matches swarm.ErrUnreachable.
type unreachable struct{ error }

func (e unreachable) Unwrap() error        { return e.error }
func (e unreachable) Is(target error) bool { return target == swarm.ErrUnreachable }

type refused struct {
	error
	r Refusal
}

func (e refused) Unwrap() error { return e.error }
func (e refused) Is(target error) bool {
	return target == httpbound.ErrUnauthorized && e.r.Unauthorized || target == httpbound.ErrForbidden && e.r.Forbidden ||
		target == httpbound.ErrNotSent && e.r.NotSent
}

func (e refused) RefusedURL(code int) string {
	switch code {
	case http.StatusForbidden:
		return e.r.URL
	case http.StatusUnauthorized:
		return e.r.UnauthorizedURL
	}
	return ""
}

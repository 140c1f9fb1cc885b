package daemon

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeRequest: whatever a caller sends the daemon's /download, the
// daemon refuses it with a "bad request" error or reads a request within
// its bounds (one item at least, at most maxItems of each list, names,
// versions and infohashes of visible ASCII of at most maxFieldLen bytes),
// and never panics.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"items":[{"name":"a","version":"1.0.0"}]}`,
		`{"items":[{"name":"a","version":"1.0.0","infohash":"00"}],"keep":[{"name":"b","version":"2"}]}`,
		`{"items":[]}`,
		`{"items":[{"name":"a","version":"1"}]} {}`,
		`{"items":[{"name":"a\u0000","version":"1"}]}`,
		`{"torrent":"x"}`,
		`{"items":null,"keep":[{"name":"k","version":"1"}]}`,
		`[`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "http://daemon/download", bytes.NewReader(body))
		req, err := decodeRequest(httptest.NewRecorder(), r)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "bad request: ") {
				t.Fatalf("error does not say it is a bad request: %v", err)
			}
			return
		}
		if n := len(req.Items) + len(req.Keep); n == 0 || len(req.Items) > maxItems || len(req.Keep) > maxItems {
			t.Fatalf("accepted %d items and %d to keep", len(req.Items), len(req.Keep))
		}
		for _, it := range append(req.Items, req.Keep...) {
			for _, s := range []string{it.Name, it.Version, it.InfoHash} {
				if len(s) > maxFieldLen || !visibleASCII(s) {
					t.Fatalf("accepted the field %q", s)
				}
			}
			if it.Name == "" || it.Version == "" {
				t.Fatalf("accepted an item without a name or version: %+v", it)
			}
		}
	})
}

// answer is an http.RoundTripper that gives every request the status and
// body it holds, as a daemon (or whatever listens on its socket) could.
type answer struct {
	status int
	body   []byte
}

func (a answer) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: a.status, Status: http.StatusText(a.status), Body: io.NopCloser(bytes.NewReader(a.body)), Header: http.Header{}, Request: r}, nil
}

// FuzzDownloadEvents: whatever the daemon's socket answers a download
// with, Client.Download returns (nil only after a finished event, with no
// error in it) or fails with an error that says it came from the daemon,
// and never panics; every event it passes on parsed.
func FuzzDownloadEvents(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{200, `{"bytes":1,"total":2,"peers":1}` + "\n" + `{"bytes":2,"total":2,"finished":true}` + "\n"},
		{200, `{"bytes":1,"prefix":{"a.tar.zst":65536}}` + "\n" + `{"error":"no source","failed_archive":"a.tar.zst","refused":{"unauthorized":true}}` + "\n"},
		{200, `{"completed":{"archive":"a.tar.zst"}}` + "\n"},
		{200, `{"bytes":"x"}` + "\n"},
		{200, ""},
		{400, `json: unknown field "keep"`},
		{500, "boom\nmore"},
	} {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return // no HTTP status
		}
		c := &Client{http: &http.Client{Transport: answer{status, body}}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// With Keep, a 400 naming the field is asked again without it
		// (an older daemon): that must end too.
		req := Request{Items: []Item{{Name: "a", Version: "1"}}, Keep: []Item{{Name: "b", Version: "1"}}}
		events := 0
		err := c.Download(ctx, req, 0, func(Event) { events++ })
		if err != nil && !strings.HasPrefix(err.Error(), "daemon: ") && !strings.Contains(err.Error(), " (through the daemon): ") {
			t.Fatalf("error does not say it came from the daemon: %v", err)
		}
		if err == nil && status != http.StatusOK {
			t.Fatalf("status %d and no error", status)
		}
		// An event is a line of a 200's body (asked at most twice, the
		// second time without Keep): none comes of another status, and
		// no more than the lines the answers held.
		if status != http.StatusOK && events > 0 {
			t.Fatalf("status %d gave %d events", status, events)
		}
		if lines := bytes.Count(body, []byte("\n")) + 1; events > 2*lines {
			t.Fatalf("%d events from answers of %d lines", events, lines)
		}
	})
}

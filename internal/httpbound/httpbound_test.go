package httpbound

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Do follows at most MaxRedirects redirects, gives up a chain whose
// headers do not come within the time (naming the last URL), and gives
// a reply that came in time whole.
func TestDo(t *testing.T) {
	var ts *httptest.Server
	ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hop, _ := strconv.Atoi(r.URL.Query().Get("hop"))
		delay, _ := time.ParseDuration(r.URL.Query().Get("delay"))
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		if hop < 100 && r.URL.Path == "/loop" || hop < 1 {
			http.Redirect(w, r, fmt.Sprintf("%s%s?hop=%d&delay=%s", ts.URL, r.URL.Path, hop+1, delay), http.StatusFound)
			return
		}
		io.WriteString(w, "payload")
	}))
	defer ts.Close()
	c := &http.Client{CheckRedirect: CheckRedirect}
	for _, tc := range []struct {
		name, path string
		want       string // in the error; "" for the payload
		noHeaders  bool
	}{
		{"one redirect", "/once?delay=0s", "", false},
		{"endless redirects", "/loop?delay=0s", "more than 3 redirects", false},
		{"slow redirects", "/loop?delay=150ms", "no answer within 400ms, redirects included", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL+tc.path, nil)
			resp, err := Do(c, req, 400*time.Millisecond)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "payload" {
					t.Fatalf("body %q", b)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want an error with %q", err, tc.want)
			}
			if errors.Is(err, ErrNoHeaders) != tc.noHeaders {
				t.Errorf("%v: errors.Is ErrNoHeaders %v, want %v", err, !tc.noHeaders, tc.noHeaders)
			}
			var ue *url.Error
			if tc.noHeaders && (!errors.As(err, &ue) || !strings.Contains(ue.URL, "hop=")) {
				t.Errorf("%v: want the last URL of the chain named", err)
			}
		})
	}
}

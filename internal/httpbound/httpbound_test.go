package httpbound

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
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

// TestCheckRedirectCredentials: a URL's user and password (a private
// repository's basic auth) follow a redirect to the same scheme, host and
// port, by path or by absolute URL, and never one to another host or
// port; a reply from such another origin is NotSent. Each server records
// every header it got, so a password in a Referer would show too.
func TestCheckRedirectCredentials(t *testing.T) {
	type hit struct{ server, path, auth, headers string }
	var mu sync.Mutex
	var hits []hit
	var a, b *httptest.Server
	handler := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits = append(hits, hit{name, r.URL.Path, r.Header.Get("Authorization"), fmt.Sprint(r.Header)})
			mu.Unlock()
			to := strings.NewReplacer("A", a.Listener.Addr().String(), "B", b.Listener.Addr().String(),
				"PORTB", portOf(t, b)).Replace(r.URL.Query().Get("to"))
			if to != "" {
				rest := r.URL.Query()["then"]
				if len(rest) > 0 {
					to += "?to=" + url.QueryEscape(rest[0])
				}
				w.Header().Set("Location", to)
				w.WriteHeader(http.StatusFound)
				return
			}
			io.WriteString(w, "payload")
		})
	}
	a, b = httptest.NewServer(handler("A")), httptest.NewServer(handler("B"))
	defer a.Close()
	defer b.Close()
	secret := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:secret"))
	c := &http.Client{CheckRedirect: CheckRedirect}
	for _, tc := range []struct {
		name     string
		to, then string // Location of A's answer, then of the next
		header   bool   // the Authorization header set, not the URL's user
		last     string // the server that answers last
		authLast bool   // it gets the user and password
		notSent  bool
	}{
		{"a path", "/repo/", "", false, "A", true, false},
		{"the same origin, absolute", "http://A/repo/", "", false, "A", true, false},
		{"another host name", "http://localhost:" + portOf(t, a) + "/repo/", "", false, "A", false, true},
		{"another port", "http://B/repo/", "", false, "B", false, true},
		{"another host, scheme-relative", "//localhost:PORTB/repo/", "", false, "B", false, true},
		{"another port and back", "http://B/away", "http://A/back", false, "A", true, false},
		{"a header, another port", "http://B/repo/", "", true, "B", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			hits = nil
			mu.Unlock()
			q := url.Values{"to": {tc.to}}
			if tc.then != "" {
				q["then"] = []string{tc.then}
			}
			u := "http://user:secret@" + a.Listener.Addr().String() + "/x?" + q.Encode()
			if tc.header {
				u = a.URL + "/x?" + q.Encode()
			}
			req, _ := http.NewRequest("GET", u, nil)
			if tc.header {
				req.Header.Set("Authorization", secret)
			}
			resp, err := Do(c, req, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			if len(hits) < 2 || hits[0].auth != secret {
				t.Fatalf("hits %+v: want the first with the password and a redirect", hits)
			}
			got := hits[len(hits)-1]
			if got.server != tc.last || (got.auth == secret) != tc.authLast {
				t.Errorf("the last hop went to %s with Authorization %q; want %s, with the password: %v", got.server, got.auth, tc.last, tc.authLast)
			}
			for _, h := range hits {
				if h.server == "B" && strings.Contains(h.headers, strings.TrimPrefix(secret, "Basic ")) {
					t.Errorf("B got the password: %s", h.headers)
				}
			}
			if err := NotSent(resp); (err != nil) != tc.notSent || err != nil && (!errors.Is(err, ErrNotSent) || strings.Contains(err.Error(), "secret")) {
				t.Errorf("NotSent = %v; want an error: %v, and no password", err, tc.notSent)
			}
		})
	}
}

func portOf(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	return strconv.Itoa(int(ts.Listener.Addr().(*net.TCPAddr).Port))
}

// PasswordSent says whether the request refused carried a password: of
// the server that refused, not of any configured.
func TestPasswordSent(t *testing.T) {
	mixed := []string{"http://a.example:9090", "https://u:pw@b.example/repo/"}
	for _, tc := range []struct {
		name    string
		refused string
		servers []string
		want    bool
	}{
		{"the one without", "http://a.example:9090/packages.db", mixed, false},
		{"the one with, masked", "https://u:xxxxx@b.example/repo/packages.db", mixed, true},
		{"the one with, its password lost on the way", "https://b.example/repo/packages/x-1.tar.zst", mixed, true},
		{"the same origin, another path", "https://b.example/other/packages.db", mixed, false},
		{"a path that only starts alike", "https://b.example/repository/packages.db", mixed, false},
		{"the port written out", "https://b.example:443/repo/packages.db", mixed, true},
		{"a web seed elsewhere", "https://cdn.example/pkgs/", mixed, false},
		{"a user alone", "http://u@a.example:9090/packages.db", mixed, false},
		{"not known, some without", "", mixed, false},
		{"not known, every one with", "", []string{"https://u:pw@b.example/repo/", "http://v:pw@a.example"}, true},
		{"not known, none", "", nil, false},
	} {
		if got := PasswordSent(tc.refused, tc.servers); got != tc.want {
			t.Errorf("%s: PasswordSent(%q, %q) = %v, want %v", tc.name, tc.refused, tc.servers, got, tc.want)
		}
	}
}

// refusedAt is an error of a server that answered code for url, as the
// catalog's and the web seeds' errors say it (RefusedURL).
type refusedAt struct {
	code int
	url  string
}

func (e refusedAt) Error() string              { return fmt.Sprintf("%s: HTTP %d", e.url, e.code) }
func (e refusedAt) Unwrap() error              { return Refused(e.code) }
func (e refusedAt) RefusedURL(code int) string { return map[bool]string{true: e.url}[code == e.code] }

// TestRefusalIn: the one reading of a refusal that dist-client's and a
// mirror's hints share: which code (a 403 before a 401, as both hints
// put it), whether it came past a redirect that dropped the password,
// the URL refused and whether its request carried a password.
func TestRefusalIn(t *testing.T) {
	servers := []string{"http://a.example:9090", "https://u:pw@b.example/repo/"}
	notSent := &NotSentError{To: "https://c.example/packages.db"}
	for _, tc := range []struct {
		name string
		err  error
		want Refusal
	}{
		{"no refusal", errors.New("connection refused"), Refusal{}},
		{"a 401 of the one without", refusedAt{401, "http://a.example:9090/packages.db"}, Refusal{Code: 401, URL: "http://a.example:9090/packages.db"}},
		{"a 401 of the one with", refusedAt{401, "https://u:xxxxx@b.example/repo/packages.db"}, Refusal{Code: 401, URL: "https://u:xxxxx@b.example/repo/packages.db", Password: true}},
		{"a 403 of the one with", refusedAt{403, "https://b.example/repo/packages/x-1.tar.zst"}, Refusal{Code: 403, URL: "https://b.example/repo/packages/x-1.tar.zst", Password: true}},
		{"a 403 beside a 401", errors.Join(refusedAt{401, "http://a.example:9090/packages.db"}, refusedAt{403, "https://b.example/repo/packages.db"}),
			Refusal{Code: 403, URL: "https://b.example/repo/packages.db", Password: true}},
		{"past a redirect", fmt.Errorf("%w (%w)", ErrUnauthorized, notSent), Refusal{Code: 401, NotSent: true}},
		{"a URL not known", ErrForbidden, Refusal{Code: 403}},
	} {
		if got := RefusalIn(tc.err, servers); got != tc.want {
			t.Errorf("%s: RefusalIn(%v) = %+v, want %+v", tc.name, tc.err, got, tc.want)
		}
	}
}

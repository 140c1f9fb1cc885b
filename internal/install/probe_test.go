package install

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestProbeRedirectWithPassword: the dry run's probe of a web seed behind
// basic auth follows a redirect to its own origin with the password, as
// the download does (an absolute Location lost it: 401, "unreachable"),
// and sends it to no other host.
func TestProbeRedirectWithPassword(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/old/"):
			http.Redirect(w, r, "http://"+r.Host+strings.TrimPrefix(r.URL.Path, "/old"), http.StatusMovedPermanently)
		case strings.HasPrefix(r.URL.Path, "/away/"):
			http.Redirect(w, r, "http://"+strings.Replace(r.Host, "127.0.0.1", "localhost", 1)+strings.TrimPrefix(r.URL.Path, "/away"), http.StatusFound)
		default:
			if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "secret" {
				http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
			}
		}
	}))
	defer srv.Close()
	base := strings.Replace(srv.URL, "http://", "http://user:secret@", 1)
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/packages/a.tar.zst", true},
		{"/old/packages/a.tar.zst", true},
		{"/away/packages/a.tar.zst", false},
	} {
		if got, busy := probeHead(context.Background(), probeClient(), base+tc.path); got != tc.want || busy {
			t.Errorf("probeHead(%s) = %v, %v, want %v, false", tc.path, got, busy, tc.want)
		}
	}
}

// TestProbeBusy: a server that asks to retry later (503 or 429 with a
// Retry-After) is busy, which an install waits for, and makes the archive
// available; a dry run said it could not be had, and the install got it.
// A 503 without Retry-After, or one withholding a damaged copy, is not.
func TestProbeBusy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if h := q.Get("retry"); h != "" {
			w.Header().Set("Retry-After", h)
		}
		if q.Get("withheld") != "" {
			w.Header().Set(torrentmeta.HeaderWithheld, "1")
		}
		code, _ := strconv.Atoi(q.Get("code"))
		w.WriteHeader(code)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		query    string
		ok, busy bool
	}{
		{"code=200", true, false},
		{"code=503&retry=10", false, true},
		{"code=429&retry=5", false, true},
		{"code=503", false, false},
		{"code=503&retry=soon", false, false},
		{"code=503&retry=10&withheld=1", false, false},
		{"code=404&retry=10", false, false},
	} {
		ok, busy := probeHead(context.Background(), probeClient(), srv.URL+"/packages/a.tar.zst?"+tc.query)
		if ok != tc.ok || busy != tc.busy {
			t.Errorf("%s: probeHead = %v, %v, want %v, %v", tc.query, ok, busy, tc.ok, tc.busy)
		}
	}
	for _, tc := range []struct {
		name string
		a    Availability
		want bool
	}{
		{"busy alone", Availability{Seeders: -1, WebSeedBusy: true}, true},
		{"nothing", Availability{Seeders: -1}, false},
		{"has it and busy", Availability{Seeders: 0, WebSeed: true, WebSeedBusy: true}, true},
	} {
		a := tc.a
		if got := a.settle(); got != tc.want || a.OK != tc.want || (a.WebSeed && a.WebSeedBusy) {
			t.Errorf("%s: settle = %v (OK %v, busy %v), want %v and not busy beside a server that has it", tc.name, got, a.OK, a.WebSeedBusy, tc.want)
		}
	}
}

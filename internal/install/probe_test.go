package install

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
		if got := headOK(context.Background(), probeClient(), base+tc.path); got != tc.want {
			t.Errorf("headOK(%s) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

package catalogserver

import (
	"net/http"
	"testing"
)

// The rotation chain is served as set, with an ETag, and 404 before any.
func TestRotation(t *testing.T) {
	s, ts, _ := newTestServer(t)
	if resp, body := get(t, ts, http.MethodGet, PathRotation); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("before SetRotation: %d %q, want 404", resp.StatusCode, body)
	}
	chain := []byte("distpac key rotation v1\n(the bytes as given)\n")
	s.SetRotation(chain)
	resp, body := get(t, ts, http.MethodGet, PathRotation)
	if resp.StatusCode != http.StatusOK || body != string(chain) || resp.Header.Get("ETag") == "" {
		t.Fatalf("after SetRotation: %d %q (ETag %q)", resp.StatusCode, body, resp.Header.Get("ETag"))
	}
	if resp, _ := get(t, ts, http.MethodGet, PathRotation, "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("conditional GET: %d, want 304", resp.StatusCode)
	}
	if resp, _ := get(t, ts, http.MethodPost, PathRotation); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d, want 405", resp.StatusCode)
	}
}

package catalogclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/tracker"
)

// answering listens on 127.0.0.1 and answers every connection's first
// bytes with answer, then holds it open (as a BitTorrent seeder waits for
// the rest of a handshake) until the test ends.
func answering(t *testing.T, answer []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Read(make([]byte, 512))
				c.Write(answer)
				select {
				case <-done:
				case <-time.After(30 * time.Second):
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestSyncNotHTTP: a server_url that points at a port that does not speak
// HTTP (dist-server's BitTorrent peer_addr, a newcomer's run) fails at the
// answer's first bytes, saying so in a short line that quotes at most a
// few printable characters of it. The seeder's random bytes held the sync
// until it gave up the handshake (4 s), and the error quoted about 300 of
// them, escaped.
func TestSyncNotHTTP(t *testing.T) {
	noNewline := bytes.Repeat([]byte{0x9c, 0xc8, 0xea, 0x1b, 0x07}, 60) // as an encrypted handshake, with ESC and BEL
	handshake := append([]byte("\x13BitTorrent protocol"), make([]byte, 48)...)
	for _, tt := range []struct {
		name   string
		answer []byte
		want   string
	}{
		{"a BitTorrent handshake", handshake, "did not answer HTTP (it sent a BitTorrent handshake: it is a BitTorrent peer port; the catalog is served on dist-server's database_addr)"},
		{"binary without a newline", noNewline, "did not answer HTTP (it answered with binary data, as a BitTorrent peer port does: the catalog is served on dist-server's database_addr)"},
		{"an escape sequence", []byte("\x1b]0;owned\x07\x1b[2J"), "did not answer HTTP (it answered with binary data"},
		// A seeder's random bytes may start with a few printable ones,
		// or with a byte that starts a TLS record: sync_hints.txtar
		// quoted "hvj-" once in a few dozen runs.
		{"random bytes that start printable", append([]byte("hvj-"), noNewline...), "did not answer HTTP (it answered with binary data, as a BitTorrent"},
		{"random bytes that start as a TLS record", append([]byte{0x16, 0x9c, 0xc8}, noNewline...), "did not answer HTTP (it answered with binary data, as a BitTorrent"},
		// An http:// URL answered with a TLS record's header: an
		// attacker's run got Go's message, 600 bytes, and no hint.
		{"a TLS record to an http:// request", append([]byte{0x16, 0x03, 0x01, 0x40}, noNewline...), "did not answer HTTP (it answered with binary data, as a BitTorrent"},
		{"another protocol's banner", []byte("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n"), `did not answer HTTP (it answered "SSH-2.0-OpenSSH_"...: the catalog`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := answering(t, tt.answer)
			start := time.Now()
			_, err := catalogclient.Sync(context.Background(), syncOpts(u, t.TempDir(), newKey(t).Public()))
			took := time.Since(start)
			if !errors.Is(err, catalogclient.ErrNotHTTP) {
				t.Fatalf("Sync: %v, want ErrNotHTTP", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "sync: "+u+" did not answer HTTP") || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q, want %q and the URL first", msg, tt.want)
			}
			for _, r := range msg {
				if r < 0x20 || r > 0x7e {
					t.Errorf("error %q carries %q", msg, r)
				}
			}
			if len(msg) > 200 {
				t.Errorf("error of %d bytes: %q", len(msg), msg)
			}
			if took > 2*time.Second {
				t.Errorf("took %s to see the answer was not HTTP", took)
			}
		})
	}
}

// TestDefaultHTTPClientTLS: the check for an HTTP answer is under TLS, so
// an https:// server (a web server with TLS in front of dist-server) is
// still read.
func TestDefaultHTTPClientTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "catalog") }))
	defer srv.Close()
	c := catalogclient.DefaultHTTPClient()
	c.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "catalog" {
		t.Fatalf("%s: %q", resp.Status, b)
	}
}

// TestSyncTrackerPort: a server URL that points at a BitTorrent tracker
// (dist-server's tracker_addr, a newcomer's run) is told from a web
// server's wrong path by the tracker's answer, a bencoded failure reason,
// and the error says it is a tracker's port and where the catalog is:
// the 404 said only that the URL must be the base one. Any other 404
// reads as before.
func TestSyncTrackerPort(t *testing.T) {
	const tracked = "it answered as a BitTorrent tracker does, with a bencoded failure reason, so it is a tracker's port, such as dist-server's tracker_addr; the catalog is served on dist-server's database_addr"
	const base = "no catalog at this URL: the server URL must be the base URL"
	dist := httptest.NewServer(tracker.New(tracker.Options{}).Handler())
	defer dist.Close()
	answer := func(body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	for _, tt := range []struct {
		name, url, want string
	}{
		{"dist-server's tracker", dist.URL, tracked},
		{"its announce URL", dist.URL + "/announce", tracked},
		{"another tracker's failure", answer("d14:failure reason9:not founde"), tracked},
		{"a web server's 404", answer("404 page not found\n"), base},
		// Text that is no bencoding is quoted, as a server's words are.
		{"words of a failure reason", answer("d14:failure reason: none here"), ": d14:failure reason: none here"},
		{"a 404 as short as the start", answer("d14:fail"), ": d14:fail"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := catalogclient.Sync(context.Background(), syncOpts(tt.url, t.TempDir(), newKey(t).Public()))
			if err == nil {
				t.Fatal("Sync succeeded")
			}
			if want := "sync: GET " + tt.url + "/packages.db: 404 Not Found"; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to start %q and say %q", err, want, tt.want)
			}
			if tt.want == tracked && !errors.Is(err, catalogclient.ErrNoCatalogHere) {
				t.Errorf("error %q is not ErrNoCatalogHere, whose hint names the file and key to fix", err)
			}
		})
	}
}

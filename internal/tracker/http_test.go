package tracker

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	anacrolixTracker "github.com/anacrolix/torrent/tracker"
)

// TestAnacrolixClient announces with anacrolix's own tracker client, as the
// swarm's clients will.
func TestAnacrolixClient(t *testing.T) {
	tr := New(Options{MaxTorrents: 1})
	srv := httptest.NewServer(tr.Handler())
	defer srv.Close()
	ih := infoHash(1)
	tr.AddPeer(ih, loopback(6881), true)

	do := func(ih [20]byte, port uint16, left int64) (anacrolixTracker.AnnounceResponse, error) {
		var id [20]byte
		copy(id[:], peerID(port))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return anacrolixTracker.Announce{
			TrackerUrl: srv.URL + "/announce",
			Context:    ctx,
			Request: anacrolixTracker.AnnounceRequest{
				InfoHash: ih,
				PeerId:   id,
				Port:     port,
				Left:     left,
				Event:    anacrolixTracker.Started,
				NumWant:  -1,
			},
		}.Do()
	}
	tests := []struct {
		name      string
		ih        [20]byte
		port      uint16
		left      int64
		wantPorts []uint16
		wantErr   string
	}{
		{"first leecher sees the seeder", ih, 7001, -1, []uint16{6881}, ""},
		{"second leecher sees both", ih, 7002, 1 << 20, []uint16{6881, 7001}, ""},
		{"refusal is a failure reason", infoHash(2), 7001, -1, nil, "too many torrents"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := do(tc.ih, tc.port, tc.left)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ports []uint16
			for _, p := range res.Peers {
				if !p.IP.Equal([]byte{127, 0, 0, 1}) {
					t.Errorf("peer IP %v", p.IP)
				}
				ports = append(ports, uint16(p.Port))
			}
			slices.Sort(ports)
			if !slices.Equal(ports, tc.wantPorts) {
				t.Errorf("peers %v, want %v", ports, tc.wantPorts)
			}
			if res.Interval != int32(DefaultInterval/time.Second) {
				t.Errorf("interval %d, want %d", res.Interval, DefaultInterval/time.Second)
			}
		})
	}
}

func TestRouting(t *testing.T) {
	srv := httptest.NewServer(New(Options{}).Handler())
	defer srv.Close()
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/", http.StatusNotFound},
		{"GET", "/announce/x", http.StatusNotFound},
		{"GET", "/metrics", http.StatusNotFound},
		{"GET", "/packages.db", http.StatusNotFound}, // server_url at the tracker's port
		{"POST", "/announce", http.StatusMethodNotAllowed},
		{"GET", "/announce?info_hash=short", http.StatusOK}, // a bencoded failure reason
		{"GET", "/scrape", http.StatusOK},                   // a bencoded failure reason
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
			// A 404 says, as a tracker says things, that a tracker
			// answered: a client can tell it from a web server's 404.
			if want := "d14:failure reason" + strconv.Itoa(len(reasonNotTracked)) + ":" + reasonNotTracked + "e"; tc.want == http.StatusNotFound && string(body) != want {
				t.Errorf("body %q, want %q", body, want)
			}
		})
	}
}

// TestMappedAddress: a dual-stack listener reports IPv4 clients as
// ::ffff:a.b.c.d; they must be one identity with plain IPv4 and be listed in
// the compact IPv4 peers.
func TestMappedAddress(t *testing.T) {
	tr := New(Options{})
	h := tr.Handler()
	ih := infoHash(1)
	send := func(remote string, port uint16) announceResponse {
		q := url.Values{}
		q.Set("info_hash", string(ih[:]))
		q.Set("peer_id", peerID(port))
		q.Set("port", strconv.Itoa(int(port)))
		q.Set("left", "1")
		req := httptest.NewRequest("GET", "/announce?"+q.Encode(), nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var r announceResponse
		if err := bencode.Unmarshal(rec.Body.Bytes(), &r); err != nil {
			t.Fatalf("decode %q: %v", rec.Body.Bytes(), err)
		}
		return r
	}
	send("[::ffff:127.0.0.1]:50000", 7001)
	if r := send("127.0.0.1:50001", 7002); !slices.Equal(r.ports(t), []uint16{7001}) {
		t.Errorf("peers %v, want [7001]", r.ports(t))
	}
	if r := send("127.0.0.1:50002", 7001); !slices.Equal(r.ports(t), []uint16{7002}) {
		t.Errorf("re-announce as plain IPv4: peers %v, want [7002]", r.ports(t))
	}
	if got := tr.Peers(ih); !slices.Equal(got, []netip.AddrPort{loopback(7001), loopback(7002)}) {
		t.Errorf("Peers() = %v", got)
	}
}

// A port that is not one is refused with a failure reason: the library
// ignored the parse error and saturated, so port=99999 was recorded as
// 65535 (an attacker's run).
func TestAnnounceBadPort(t *testing.T) {
	tr := New(Options{})
	h := tr.Handler()
	ih := infoHash(1)
	for _, tc := range []struct {
		port, wantFailure string
	}{
		{"99999", `port "99999" is not a port number`},
		{"-1", `port "-1" is not a port number`},
		{"0x1f90", `port "0x1f90" is not a port number`},
		{"010", `port "010" is not a port number`},   // the library read it as octal: 8
		{"0080", `port "0080" is not a port number`}, // and this as no port
		{"6881", ""},
	} {
		q := url.Values{}
		q.Set("info_hash", string(ih[:]))
		q.Set("peer_id", peerID(1))
		q.Set("port", tc.port)
		q.Set("left", "1")
		req := httptest.NewRequest("GET", "/announce?"+q.Encode(), nil)
		req.RemoteAddr = "127.0.0.1:50000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var r announceResponse
		if err := bencode.Unmarshal(rec.Body.Bytes(), &r); err != nil {
			t.Fatalf("port %s: decode %q: %v", tc.port, rec.Body.Bytes(), err)
		}
		if !strings.Contains(r.FailureReason, tc.wantFailure) || (tc.wantFailure == "") != (r.FailureReason == "") {
			t.Errorf("port %s: failure %q, want %q", tc.port, r.FailureReason, tc.wantFailure)
		}
	}
	if got := tr.Peers(ih); !slices.Equal(got, []netip.AddrPort{loopback(6881)}) {
		t.Errorf("Peers() = %v, want only the good port", got)
	}
}

// A request the library refuses as malformed is answered with a failure
// reason, as every other refusal: it answered HTTP 400 with a line of plain
// text (an attacker's run).
func TestAnnounceMalformedIsAFailureReason(t *testing.T) {
	h := New(Options{}).Handler()
	ih := infoHash(1)
	for _, tc := range []struct {
		name        string
		set         func(q url.Values)
		wantFailure string
	}{
		{"short info_hash", func(q url.Values) { q.Set("info_hash", "short") }, "info_hash has wrong length"},
		{"long peer_id", func(q url.Values) { q.Set("peer_id", strings.Repeat("p", 21)) }, "peer_id has wrong length"},
		{"unknown event", func(q url.Values) { q.Set("event", "paused") }, "unknown event"},
		{"well formed", func(url.Values) {}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{}
			q.Set("info_hash", string(ih[:]))
			q.Set("peer_id", peerID(1))
			q.Set("port", "6881")
			q.Set("left", "1")
			tc.set(q)
			req := httptest.NewRequest("GET", "/announce?"+q.Encode(), nil)
			req.RemoteAddr = "127.0.0.1:50000"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var r announceResponse
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d (%q), want 200", rec.Code, rec.Body.Bytes())
			}
			if err := bencode.Unmarshal(rec.Body.Bytes(), &r); err != nil {
				t.Fatalf("decode %q: %v", rec.Body.Bytes(), err)
			}
			if !strings.Contains(r.FailureReason, tc.wantFailure) || (tc.wantFailure == "") != (r.FailureReason == "") {
				t.Errorf("failure %q, want %q", r.FailureReason, tc.wantFailure)
			}
		})
	}
}

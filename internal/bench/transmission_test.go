//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestKBps(t *testing.T) {
	for _, tc := range []struct {
		in, want int64
	}{
		{0, 1},
		{1, 1},
		{999, 1},
		{1000, 1},
		{1999, 1},
		{2000, 2},
		{1 << 20, 1048}, // 1 MiB/s: rounded down, never above the cap
		{2 << 20, 2097}, // the default u and U
		{10_000_000, 10000},
	} {
		if got := kBps(tc.in); got != tc.want {
			t.Errorf("kBps(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestTrSettings(t *testing.T) {
	b, err := trSettings("198.18.1.7", 51420, "/w/l06/download", 2097)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("settings.json is not JSON: %v", err)
	}
	for _, tc := range []struct {
		key  string
		want any
	}{
		{"bind-address-ipv4", "198.18.1.7"},
		{"rpc-bind-address", "198.18.1.7"},
		{"peer-port", float64(51420)},
		{"rpc-port", float64(trRPCPort)},
		{"download-dir", "/w/l06/download"},
		{"speed-limit-up", float64(2097)},
		{"speed-limit-up-enabled", true},
		{"speed-limit-down-enabled", false},
		{"dht-enabled", false},
		{"lpd-enabled", false},
		{"utp-enabled", false},
		{"port-forwarding-enabled", false},
		{"peer-port-random-on-start", false},
		{"ratio-limit-enabled", false},
		{"rpc-whitelist-enabled", false},
		{"rpc-authentication-required", false},
		{"rpc-enabled", true},
	} {
		if got, ok := s[tc.key]; !ok || got != tc.want {
			t.Errorf("%s = %v (present %v), want %v", tc.key, got, ok, tc.want)
		}
	}
}

func TestTrLeecherAddrs(t *testing.T) {
	seen := map[string]bool{trTrackerAddr: true, trSeederAddr: true}
	for i, a := range trLeecherAddrs(256) {
		if !strings.HasPrefix(a, "198.18.") {
			t.Errorf("leecher %d: %s is outside 198.18.0.0/15", i, a)
		}
		if seen[a] {
			t.Errorf("leecher %d: %s is taken", i, a)
		}
		seen[a] = true
	}
}

func TestDecodeTrReply(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reply   string
		out     bool
		want    trTorrentGet
		wantErr string
	}{
		{
			name:  "torrent-get",
			reply: `{"arguments":{"torrents":[{"id":1,"status":4,"percentDone":0.5,"haveValid":8388608,"sizeWhenDone":16777216,"uploadedEver":42,"downloadedEver":9000000,"error":0,"errorString":""}]},"result":"success"}`,
			out:   true,
			want:  trTorrentGet{Torrents: []trTorrent{{ID: 1, Status: 4, PercentDone: 0.5, HaveValid: 8 << 20, SizeWhenDone: 16 << 20, UploadedEver: 42, DownloadedEver: 9000000}}},
		},
		{name: "no torrents", reply: `{"arguments":{"torrents":[]},"result":"success"}`, out: true, want: trTorrentGet{Torrents: []trTorrent{}}},
		{name: "arguments ignored", reply: `{"arguments":{},"result":"success"}`},
		{name: "failure", reply: `{"arguments":{},"result":"invalid or corrupt torrent file"}`, out: true, wantErr: "torrent-get: invalid or corrupt torrent file"},
		{name: "no result", reply: `{"arguments":{}}`, wantErr: "torrent-get: reply has no result"},
		{name: "no arguments", reply: `{"result":"success"}`, out: true, wantErr: "torrent-get: reply has no arguments"},
		{name: "html", reply: `<h1>409: Conflict</h1>`, wantErr: "torrent-get: reply is not JSON"},
		{name: "wrong type", reply: `{"arguments":{"torrents":[{"id":"one"}]},"result":"success"}`, out: true, wantErr: "torrent-get: arguments:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got trTorrentGet
			var out any
			if tc.out {
				out = &got
			}
			err := decodeTrReply("torrent-get", []byte(tc.reply), out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.out {
				gb, _ := json.Marshal(got)
				wb, _ := json.Marshal(tc.want)
				if string(gb) != string(wb) {
					t.Errorf("got %s\nwant %s", gb, wb)
				}
			}
		})
	}
}

func TestTrTorrentComplete(t *testing.T) {
	for _, tc := range []struct {
		t    trTorrent
		want bool
	}{
		{trTorrent{}, false}, // no metadata yet: sizeWhenDone 0
		{trTorrent{HaveValid: 10, SizeWhenDone: 11}, false},
		{trTorrent{HaveValid: 11, SizeWhenDone: 11}, true},
		{trTorrent{PercentDone: 1, HaveValid: 5, SizeWhenDone: 11}, false}, // unverified bytes do not count
	} {
		if got := tc.t.complete(); got != tc.want {
			t.Errorf("%+v complete() = %v, want %v", tc.t, got, tc.want)
		}
	}
}

// TestTrRPCSessionDance plays Transmission's CSRF guard: a request without
// the current session id gets 409 and the id, and the client retries.
func TestTrRPCSessionDance(t *testing.T) {
	const id = "abc123"
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		if r.Header.Get(trSessionHeader) != id {
			w.Header().Set(trSessionHeader, id)
			http.Error(w, "409: Conflict", http.StatusConflict)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Method    string         `json:"method"`
			Arguments map[string]any `json:"arguments"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.Method != "torrent-get" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		io.WriteString(w, `{"arguments":{"torrents":[{"id":3,"haveValid":7,"sizeWhenDone":7}]},"result":"success"}`)
	}))
	defer srv.Close()
	c := newTrRPC(srv.URL)
	for range 2 {
		var out trTorrentGet
		if err := c.call(context.Background(), "torrent-get", map[string]any{"fields": trTorrentFields}, &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Torrents) != 1 || !out.Torrents[0].complete() {
			t.Fatalf("torrents = %+v", out.Torrents)
		}
	}
	if requests != 3 { // 409 + retry, then the kept id works at once
		t.Errorf("%d requests, want 3", requests)
	}
}

func TestTrRPCErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
	}{
		{"always 409", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(trSessionHeader, "new-every-time-"+r.Header.Get(trSessionHeader))
			w.WriteHeader(http.StatusConflict)
		}, "still HTTP 409"},
		{"unauthorized", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
		}, "HTTP 401"},
		{"failure result", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"arguments":{},"result":"duplicate torrent"}`)
		}, "torrent-add: duplicate torrent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			err := newTrRPC(srv.URL).call(context.Background(), "torrent-add", nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// The child must never add addresses to the loopback of the namespace it
// was started from.
func TestTrSetupNetnsRefusesParentNamespace(t *testing.T) {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Skipf("no /proc/self/ns/net: %v", err)
	}
	for _, parent := range []string{self, ""} {
		if err := trSetupNetns(1, parent); err == nil || !strings.Contains(err.Error(), "unshare --net") {
			t.Errorf("trSetupNetns(1, %q) = %v, want a refusal", parent, err)
		}
	}
}

//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Transmission torrent status codes (RPC spec, 3.00).
const (
	trStatusStopped = 0
	trStatusSeed    = 6
)

// kBps turns bytes per second into Transmission's unit, kB/s of 1000 B,
// rounded down; at least 1, since 0 would not be a cap at all.
func kBps(bytesPerSec int64) int64 {
	return max(bytesPerSec/1000, 1)
}

// trSettings is a daemon's settings.json: bound to addr for peers, RPC and
// tracker requests, hermetic (no DHT, LPD, port forwarding or uTP), seeding
// forever, with its upload capped at upKB kB/s (0: not capped).
func trSettings(addr string, peerPort int, dlDir string, upKB int64) ([]byte, error) {
	s := map[string]any{
		"bind-address-ipv4":           addr,
		"bind-address-ipv6":           "::1",
		"peer-port":                   peerPort,
		"peer-port-random-on-start":   false,
		"port-forwarding-enabled":     false,
		"dht-enabled":                 false,
		"lpd-enabled":                 false,
		"utp-enabled":                 false,
		"ratio-limit-enabled":         false,
		"idle-seeding-limit-enabled":  false,
		"speed-limit-up":              upKB,
		"speed-limit-up-enabled":      upKB > 0,
		"speed-limit-down-enabled":    false,
		"alt-speed-enabled":           false,
		"download-dir":                dlDir,
		"incomplete-dir-enabled":      false,
		"start-added-torrents":        true,
		"rpc-enabled":                 true,
		"rpc-bind-address":            addr,
		"rpc-port":                    trRPCPort,
		"rpc-whitelist-enabled":       false,
		"rpc-host-whitelist-enabled":  false,
		"rpc-authentication-required": false,
		"message-level":               2,
	}
	return json.MarshalIndent(s, "", "  ")
}

// trDaemon is one running transmission-daemon.
type trDaemon struct {
	name string
	proc *proc
	rpc  *trRPC
}

// startTrDaemon starts a daemon named name on h, bound to h's address,
// its upload capped at upKB kB/s (0: no cap).
func startTrDaemon(dir, name string, h host, peerPort int, upKB int64) (*trDaemon, error) {
	cfg, dl := filepath.Join(dir, name, "config"), filepath.Join(dir, name, "download")
	for _, d := range []string{cfg, dl} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	settings, err := trSettings(h.addr, peerPort, dl, upKB)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfg, "settings.json"), settings, 0o644); err != nil {
		return nil, err
	}
	p, err := h.start(filepath.Join(dir, name+".log"), nil, "transmission-daemon", "-f", "-g", cfg)
	if err != nil {
		return nil, fmt.Errorf("start transmission-daemon %s: %w", name, err)
	}
	return &trDaemon{name: name, proc: p, rpc: newTrRPC(fmt.Sprintf("http://%s:%d/transmission/rpc", h.addr, trRPCPort))}, nil
}

// torrent returns the daemon's one torrent.
func (d *trDaemon) torrent(ctx context.Context) (trTorrent, error) {
	var out trTorrentGet
	if err := d.rpc.call(ctx, "torrent-get", map[string]any{"fields": trTorrentFields}, &out); err != nil {
		return trTorrent{}, fmt.Errorf("%s: %w", d.name, err)
	}
	if len(out.Torrents) != 1 {
		return trTorrent{}, fmt.Errorf("%s: torrent-get: want 1 torrent, have %d", d.name, len(out.Torrents))
	}
	return out.Torrents[0], nil
}

func (d *trDaemon) add(ctx context.Context, metainfo []byte) error {
	var out struct {
		Added *struct {
			ID int `json:"id"`
		} `json:"torrent-added"`
	}
	args := map[string]any{"metainfo": base64.StdEncoding.EncodeToString(metainfo), "paused": false}
	if err := d.rpc.call(ctx, "torrent-add", args, &out); err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	if out.Added == nil {
		return fmt.Errorf("%s: torrent-add: no torrent-added in the reply", d.name)
	}
	return nil
}

// trRPC is a client of Transmission's RPC: JSON over HTTP, with the
// X-Transmission-Session-Id header it hands out on a 409 and then wants on
// every request (its CSRF guard).
type trRPC struct {
	url     string
	client  *http.Client
	mu      sync.Mutex
	session string // guarded by mu
}

const trSessionHeader = "X-Transmission-Session-Id"

func newTrRPC(url string) *trRPC {
	return &trRPC{url: url, client: &http.Client{Timeout: 10 * time.Second}}
}

// call runs method with args and decodes the reply's arguments into out
// (when not nil).
func (c *trRPC) call(ctx context.Context, method string, args, out any) error {
	body, err := json.Marshal(map[string]any{"method": method, "arguments": args})
	if err != nil {
		return err
	}
	for range 2 {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		c.mu.Lock()
		req.Header.Set(trSessionHeader, c.session)
		c.mu.Unlock()
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.client.Do(req)
		if err != nil {
			return fmt.Errorf("%s: %w", method, err)
		}
		reply, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s: read reply: %w", method, err)
		}
		if resp.StatusCode == http.StatusConflict {
			c.mu.Lock()
			c.session = resp.Header.Get(trSessionHeader)
			c.mu.Unlock()
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: HTTP %s", method, resp.Status)
		}
		return decodeTrReply(method, reply, out)
	}
	return fmt.Errorf("%s: still HTTP 409 after taking a new %s", method, trSessionHeader)
}

// decodeTrReply checks a reply's result and decodes its arguments.
func decodeTrReply(method string, reply []byte, out any) error {
	var r struct {
		Result    string          `json:"result"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(reply, &r); err != nil {
		return fmt.Errorf("%s: reply is not JSON: %w", method, err)
	}
	if r.Result != "success" {
		if r.Result == "" {
			return fmt.Errorf("%s: reply has no result", method)
		}
		return fmt.Errorf("%s: %s", method, r.Result)
	}
	if out == nil {
		return nil
	}
	if len(r.Arguments) == 0 {
		return fmt.Errorf("%s: reply has no arguments", method)
	}
	if err := json.Unmarshal(r.Arguments, out); err != nil {
		return fmt.Errorf("%s: arguments: %w", method, err)
	}
	return nil
}

// trErrorLocal is torrent-get's error code for a local failure (disk,
// data); codes 1 and 2 are tracker warnings and errors, which may pass.
const trErrorLocal = 3

var trTorrentFields = []string{"id", "status", "percentDone", "haveValid", "sizeWhenDone", "uploadedEver", "downloadedEver", "error", "errorString",
	"peersConnected", "peersGettingFromUs", "peersSendingToUs", "rateDownload", "rateUpload"}

type trTorrentGet struct {
	Torrents []trTorrent `json:"torrents"`
}

// trTorrent is the part of torrent-get this benchmark reads.
type trTorrent struct {
	ID             int     `json:"id"`
	Status         int     `json:"status"`
	PercentDone    float64 `json:"percentDone"`
	HaveValid      int64   `json:"haveValid"`
	SizeWhenDone   int64   `json:"sizeWhenDone"`
	UploadedEver   int64   `json:"uploadedEver"`
	DownloadedEver int64   `json:"downloadedEver"`
	Error          int     `json:"error"`
	ErrorString    string  `json:"errorString"`
	// For the progress lines in the row's log.
	PeersConnected     int   `json:"peersConnected"`
	PeersGettingFromUs int   `json:"peersGettingFromUs"`
	PeersSendingToUs   int   `json:"peersSendingToUs"`
	RateDownload       int64 `json:"rateDownload"`
	RateUpload         int64 `json:"rateUpload"`
}

// complete reports whether every wanted byte is there and hash-checked:
// haveValid counts only verified pieces, unlike percentDone's float.
func (t trTorrent) complete() bool {
	return t.SizeWhenDone > 0 && t.HaveValid >= t.SizeWhenDone
}

// progress is a one-line summary for the row's log.
func (t trTorrent) progress(name string) string {
	return fmt.Sprintf("%s: %.1f%% peers %d (sending to us %d, getting from us %d) down %d kB/s up %d kB/s",
		name, t.PercentDone*100, t.PeersConnected, t.PeersSendingToUs, t.PeersGettingFromUs, t.RateDownload/1000, t.RateUpload/1000)
}

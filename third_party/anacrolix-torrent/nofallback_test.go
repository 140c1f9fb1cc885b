package torrent

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// TestNoOutgoingFallback: a peer that closes an outgoing connection before its handshake (a
// distpac node at its connection cap does, and so does the publisher with its slots taken) is
// dialled once, not a second time with header obfuscation, whose Diffie–Hellman key exchange
// that peer never even reads (patch 40). Without the option the library dials again.
func TestNoOutgoingFallback(t *testing.T) {
	for _, tc := range []struct {
		name       string
		noFallback bool
		wantDials  int32
	}{
		{"fallback", false, 2},
		{"no fallback", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			var dials atomic.Int32
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					dials.Add(1)
					c.Close() // full: closed before anything is read or written
				}
			}()
			cfg := TestingConfig(t)
			cfg.HeaderObfuscationPolicy = HeaderObfuscationPolicy{Preferred: false, NoOutgoingFallback: tc.noFallback}
			cl, err := NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			info := metainfo.Info{Name: "x", PieceLength: 16 << 10, Length: 1, Pieces: make([]byte, 20)}
			infoBytes, err := bencode.Marshal(info)
			if err != nil {
				t.Fatal(err)
			}
			tor, _ := cl.AddTorrentOpt(AddTorrentOpts{InfoHash: metainfo.HashBytes(infoBytes), InfoBytes: infoBytes})
			addr := ln.Addr().(*net.TCPAddr)
			_, err = cl.dialAndCompleteHandshake(outgoingConnOpts{
				peerInfo:                PeerInfo{Addr: ipPortAddr{addr.IP, addr.Port}},
				t:                       tor,
				HeaderObfuscationPolicy: cfg.HeaderObfuscationPolicy,
			})
			if err == nil {
				t.Fatal("handshake with a peer that closed the connection succeeded")
			}
			// The listener's goroutine counts each accept before the dialer can read its close.
			deadline := time.Now().Add(5 * time.Second)
			for dials.Load() < tc.wantDials && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond) // a dial that should not come has had time to
			if got := dials.Load(); got != tc.wantDials {
				t.Fatalf("%d connections to the peer, want %d", got, tc.wantDials)
			}
		})
	}
}

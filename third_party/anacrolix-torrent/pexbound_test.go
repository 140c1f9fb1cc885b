package torrent

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/log"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// TestPexMessageBounded (patch 52): a PEX message of 10,000 added peers (one just under the
// message limit holds ~39,000) is taken for its first 50 only, as BEP 11 caps a message, and
// without ut_holepunch the sender's list of connections is not kept (it was, whole, per
// connection: 1.5-2 MB each in an attacker's run).
func TestPexMessageBounded(t *testing.T) {
	for _, holepunch := range []bool{false, true} {
		cfg := TestingConfig(t)
		cfg.DisableUtHolepunch = !holepunch
		cfg.DisableTCP, cfg.DisableUTP = true, true // no dialers: the peers taken stay listed
		cl, err := NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		tt, _ := cl.AddTorrentInfoHash([20]byte{2})
		// 10,000 IPv6 peers and 10,000 IPv4 ones: the IPv4 ones are taken (IPv6 is often
		// off).
		var msg pp.PexMsg
		for i := range 10000 {
			msg.Added = append(msg.Added, krpc.NodeAddr{IP: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)).To4(), Port: 6881})
			msg.Added6 = append(msg.Added6, krpc.NodeAddr{IP: net.ParseIP(fmt.Sprintf("2001:db8::%x", i+1)), Port: 6881})
		}
		payload, err := bencode.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		s := pexConnState{enabled: true, torrent: tt, logger: log.Default, lastRecv: time.Now().Add(-time.Hour)}
		cl.lock()
		before := tt.peers.Len()
		err = s.Recv(payload)
		added := tt.peers.Len() - before
		cl.unlock()
		if err != nil {
			t.Fatal(err)
		}
		v4 := 0
		tt.peers.Each(func(p PeerInfo) {
			if a, ok := p.Addr.(ipPortAddr); ok && a.IP.To4() != nil {
				v4++
			}
		})
		if added > 50 || v4 != added {
			t.Errorf("holepunch %v: %d peers taken from one message, %d of them IPv4", holepunch, added, v4)
		}
		if kept := len(s.remoteLiveConns); !holepunch && kept != 0 {
			t.Errorf("without ut_holepunch, %d addresses of the sender's connections kept", kept)
		}
		cl.Close()
	}
}

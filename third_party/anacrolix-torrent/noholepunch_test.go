package torrent

import (
	"net/netip"
	"testing"

	pp "github.com/anacrolix/torrent/peer_protocol"
	utHolepunch "github.com/anacrolix/torrent/peer_protocol/ut-holepunch"
)

// TestNoUtHolepunch (patch 50): with DisableUtHolepunch the extended handshake offers
// ut_metadata and ut_pex only, and a "connect" that reaches the handler anyway is an error
// (the connection ends) instead of a dial of the address it names.
func TestNoUtHolepunch(t *testing.T) {
	for _, tc := range []struct {
		disable bool
		want    []pp.ExtensionName
	}{
		{false, []pp.ExtensionName{pp.ExtensionNameMetadata, utHolepunch.ExtensionName, pp.ExtensionNamePex}},
		{true, []pp.ExtensionName{pp.ExtensionNameMetadata, pp.ExtensionNamePex}},
	} {
		cfg := TestingConfig(t)
		cfg.DisableUtHolepunch = tc.disable
		cl, err := NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		got := cl.defaultLocalLtepProtocolMap.Index
		if len(got) != len(tc.want) {
			t.Fatalf("DisableUtHolepunch=%v: offered %q, want %q", tc.disable, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("DisableUtHolepunch=%v: offered %q, want %q", tc.disable, got, tc.want)
			}
		}
		if tc.disable {
			tt, _ := cl.AddTorrentInfoHash([20]byte{1})
			msg := utHolepunch.Msg{MsgType: utHolepunch.Connect, AddrPort: netip.MustParseAddrPort("127.0.0.1:9")}
			cl.lock()
			err := tt.handleReceivedUtHolepunchMsg(msg, nil)
			n := len(tt.halfOpen)
			cl.unlock()
			if err == nil || n != 0 {
				t.Errorf("a connect was taken (err %v) and %d dials started", err, n)
			}
		}
		cl.Close()
	}
}

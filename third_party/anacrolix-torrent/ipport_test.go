package torrent

import (
	"net"
	"net/netip"
	"testing"
)

// distpac patch 21: ipPortAddr.AddrPort gives what parsing its String would.
func TestIpPortAddrAddrPort(t *testing.T) {
	for _, a := range []ipPortAddr{
		{net.IPv4(10, 0, 0, 1), 6881},
		{net.IP{192, 0, 2, 7}, 80},
		{net.ParseIP("2001:db8::1"), 51413},
		{net.IPv6loopback, 0},
		{nil, 6881},
		{net.IP{1, 2, 3}, 6881},
		{net.IPv4(10, 0, 0, 1), -1},
		{net.IPv4(10, 0, 0, 1), 65536},
	} {
		want, _ := netip.ParseAddrPort(a.String())
		got := a.AddrPort()
		if got.Addr().Unmap() != want.Addr().Unmap() || got.Port() != want.Port() || got.IsValid() != want.IsValid() {
			t.Errorf("%#v: AddrPort() = %v, want %v (parsed from %q)", a, got, want, a.String())
		}
	}
}

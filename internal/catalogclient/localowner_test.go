package catalogclient

import (
	"net"
	"slices"
	"testing"
)

func TestLocalTargets(t *testing.T) {
	// An address of this machine's interfaces other than loopback, when
	// it has one: another user's wildcard listener takes connections to it.
	var own net.IP
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
			own = n.IP
			break
		}
	}
	tests := []struct {
		ip   net.IP
		want []net.IP // nil: another machine's
	}{
		{net.ParseIP("127.0.0.1"), []net.IP{net.ParseIP("127.0.0.1")}},
		{net.ParseIP("127.0.1.1"), []net.IP{net.ParseIP("127.0.1.1")}},
		{net.ParseIP("::1"), []net.IP{net.IPv6loopback}},
		{net.ParseIP("0.0.0.0"), []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}},
		{net.ParseIP("::"), []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}},
		{net.ParseIP("203.0.113.77"), nil}, // TEST-NET-3: another machine (skipped if this one has it)
		{nil, nil},
	}
	if own != nil {
		tests = append(tests, struct {
			ip   net.IP
			want []net.IP
		}{own, []net.IP{own}})
	}
	for _, tt := range tests {
		if tt.want == nil && slices.ContainsFunc(addrs, func(a net.Addr) bool {
			n, ok := a.(*net.IPNet)
			return ok && n.IP.Equal(tt.ip)
		}) {
			continue // this machine has it
		}
		got, ok := localTargets(tt.ip)
		if ok != (tt.want != nil) || len(got) != len(tt.want) {
			t.Errorf("localTargets(%v) = %v, %v; want %v", tt.ip, got, ok, tt.want)
			continue
		}
		for i := range got {
			if !got[i].Equal(tt.want[i]) {
				t.Errorf("localTargets(%v) = %v, want %v", tt.ip, got, tt.want)
			}
		}
	}
}

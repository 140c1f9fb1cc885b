//go:build linux

package bench

import (
	"net"
	"os"
	"strconv"
	"testing"
)

func TestPortRange(t *testing.T) {
	tests := []struct {
		ephemeral string
		lo, hi    int
	}{
		{"32768\t60999\n", 10000, 32768},
		{"", 10000, 32768},               // unreadable: Linux's default
		{"garbage", 10000, 32768},        // unparsable: likewise
		{"60999 32768", 10000, 32768},    // reversed: likewise
		{"49152 65535", 10000, 49152},    // IANA's dynamic range
		{"1024 60000", 60001, 65536},     // nothing below: above it
		{"1024 65535", 0, 0},             // no room: the kernel's choice
		{"10500 65000", 0, 0},            // too little room either side
		{"11000\t64000\n", 10000, 11000}, // exactly minPorts below
		{"70000 80000", 10000, 32768},    // out of range: the default
	}
	for _, tt := range tests {
		lo, hi := portRange(tt.ephemeral)
		if lo != tt.lo || hi != tt.hi {
			t.Errorf("portRange(%q) = [%d, %d), want [%d, %d)", tt.ephemeral, lo, hi, tt.lo, tt.hi)
		}
	}
}

// TestFreePortOutsideEphemeralRange: the ports handed out are distinct,
// bindable and never ones the kernel could give an outgoing connection.
func TestFreePortOutsideEphemeralRange(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Skip(err)
	}
	lo, hi := portRange(string(b))
	if lo == hi {
		t.Skipf("no room outside the ephemeral range %q", b)
	}
	seen := map[int]bool{}
	for range 50 {
		p, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		if p < lo || p >= hi {
			t.Fatalf("port %d outside [%d, %d), in or near the ephemeral range %q", p, lo, hi, b)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d handed out but not free: %v", p, err)
		}
		ln.Close()
	}
}

//go:build linux

package bench

import (
	"slices"
	"strings"
	"testing"
)

func TestParseProcNetStats(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm MaxConn OutSegs RetransSegs\nTcp: 1 -1 156074 48\n"
	got, err := parseProcNetStats([]byte(snmp))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]int64{"Tcp:OutSegs": 156074, "Tcp:RetransSegs": 48, "Tcp:MaxConn": -1, "Ip:DefaultTTL": 64} {
		if got[k] != want {
			t.Errorf("%s = %d, want %d", k, got[k], want)
		}
	}
	for _, bad := range []string{
		"Tcp: OutSegs RetransSegs\nTcp: 1\n",  // a value missing
		"Tcp: OutSegs\nUdp: 1\n",              // lines of two protocols
		"Tcp: OutSegs\nTcp: 1\nTcpExt: Foo\n", // a names line without values
	} {
		if _, err := parseProcNetStats([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestTCPCountersOf(t *testing.T) {
	snmp := "Tcp: RtoAlgorithm OutSegs RetransSegs\nTcp: 1 156074 48\n"
	netstat := "TcpExt: SyncookiesSent TCPTimeouts\nTcpExt: 0 9\nIpExt: InNoRoutes\nIpExt: 0\n"
	got, err := tcpCountersOf([]byte(snmp), []byte(netstat))
	if err != nil {
		t.Fatal(err)
	}
	if want := (tcpCounters{OutSegs: 156074, RetransSegs: 48, Timeouts: 9}); got != want {
		t.Errorf("tcpCountersOf = %+v, want %+v", got, want)
	}
	if _, err := tcpCountersOf([]byte(snmp), []byte("TcpExt: TCPTimeouts\n")); err == nil || !strings.Contains(err.Error(), "/proc/net/netstat") {
		t.Errorf("a netstat without values: error %v, want one naming the file", err)
	}
}

func TestUnderHalf(t *testing.T) {
	const rate = 1 << 20
	got := underHalf([][]int64{
		{0, 0, 0},                    // the start: nobody sends
		{rate, rate / 2, rate/2 - 1}, // half is not under half
		{rate, rate, rate},
	}, rate)
	if want := []int{3, 1, 0}; !slices.Equal(got, want) {
		t.Errorf("underHalf = %v, want %v", got, want)
	}
	if got := underHalf(nil, rate); len(got) != 0 {
		t.Errorf("underHalf(nil) = %v", got)
	}
}

func TestCounts(t *testing.T) {
	for _, c := range []struct {
		in          []int
		counts, pct string
	}{
		{nil, "", " %"},
		{[]int{7}, "7", "7 %"},
		{[]int{32, 25, 0}, "32 25 0", "32 25 0 %"},
	} {
		if got := counts(c.in); got != c.counts {
			t.Errorf("counts(%v) = %q, want %q", c.in, got, c.counts)
		}
		if got := percents(c.in); got != c.pct {
			t.Errorf("percents(%v) = %q, want %q", c.in, got, c.pct)
		}
	}
}

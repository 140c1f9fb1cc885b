package bench

import "testing"

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

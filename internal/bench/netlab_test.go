//go:build linux

package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// labChildEnv, when set, makes a test that re-executed itself under
// `unshare --net --mount` run its body: the lab must never be built in the
// machine's namespaces.
const labChildEnv = "DISTPAC_BENCH_LAB_CHILD"

// inLabChild re-runs the calling test in fresh network and mount
// namespaces and reports whether this process is that child. The parent
// skips when it cannot make namespaces (not root, no unshare).
func inLabChild(t *testing.T) bool {
	t.Helper()
	if os.Getenv(labChildEnv) != "" {
		return true
	}
	if err := netUsable(); err != nil {
		t.Skipf("bench-net needs network namespaces: %v", err)
	}
	net, _ := os.Readlink("/proc/self/ns/net")
	mnt, _ := os.Readlink("/proc/self/ns/mnt")
	cmd := exec.Command("unshare", "--net", "--mount", "--", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), labChildEnv+"="+net+" "+mnt)
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("child did not pass %s", t.Name())
	}
	return false
}

// parentNamespaces are the parent's namespaces, handed to the child.
func parentNamespaces() (net, mnt string) {
	net, mnt, _ = strings.Cut(os.Getenv(labChildEnv), " ")
	return net, mnt
}

// TestNetLab builds a lab of a publisher and two clients with a 1 MiB/s
// publisher link and a 40 ms round trip, and checks that the round trip
// and the rate hold and that the kernel's counters see the bytes.
func TestNetLab(t *testing.T) {
	if !inLabChild(t) {
		return
	}
	const rate = 1 << 20
	const rtt = 40 * time.Millisecond
	pn, pm := parentNamespaces()
	lab, err := newNetLab(t.TempDir(), labSpec{Clients: 2, U: rate, u: 4 * rate, RTT: rtt}, pn, pm)
	if err != nil {
		t.Fatal(err)
	}
	defer lab.close()
	lay := lab.layout()
	// Every link and the delay line have the lab's MTU, on both ends.
	for _, dev := range []string{vethName(lay.publisher), vethName(lay.clients[1]), delayDev} {
		if ifc, err := net.InterfaceByName(dev); err != nil || ifc.MTU != defaultLabMTU {
			t.Errorf("MTU of %s: %v (%v), want %d", dev, ifc, err, defaultLabMTU)
		}
	}
	if err := inNetns(lay.publisher.netns, func() error {
		ifc, err := net.InterfaceByName("eth0")
		if err == nil && ifc.MTU != defaultLabMTU {
			err = fmt.Errorf("%d", ifc.MTU)
		}
		return err
	}); err != nil {
		t.Errorf("MTU of the publisher's eth0: %v, want %d", err, defaultLabMTU)
	}
	ctx := context.Background()
	s, err := measureRTT(ctx, lay.clients[0], lay.publisher)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rtt: %v", s)
	// Every measure is at least the RTT set: no packet skips the delay
	// line. At most 10 ms over it: the median of the ping-pongs and the
	// kernel's minimum; the connect time is one sample that also holds the
	// first packet's neighbour resolution and the scheduling of a loaded
	// machine (55.9 ms for 40 ms once in a clean clone's make test, the
	// median 40.6 ms).
	for _, m := range []struct {
		d       time.Duration
		bounded bool
	}{{s.Connect, false}, {s.Median, true}, {s.MinRTT, true}} {
		if m.d < rtt || m.bounded && m.d > rtt+10*time.Millisecond {
			t.Errorf("measured %v, want %v to %v (%v)", m.d, rtt, rtt+10*time.Millisecond, s)
		}
	}

	// 3 MiB from the publisher to client 1 take about 3 s at 1 MiB/s.
	const size = 3 << 20
	var ln net.Listener
	if err := inNetns(lay.clients[1].netns, func() (err error) {
		ln, err = net.Listen("tcp4", lay.clients[1].addr+":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		got <- n
	}()
	before, err := hostLinkBytes(lay.publisher)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	var c net.Conn
	if err := inNetns(lay.publisher.netns, func() (err error) {
		c, err = net.Dial("tcp4", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(c, zeros{}, size); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if n := <-got; n != size {
		t.Fatalf("received %d bytes, want %d", n, size)
	}
	took := time.Since(t0)
	after, err := hostLinkBytes(lay.publisher)
	if err != nil {
		t.Fatal(err)
	}
	sent := after.tx - before.tx
	t.Logf("%d bytes in %v (%.0f KiB/s); publisher eth0 sent %d bytes; delay line: %v", size, took, size/took.Seconds()/1024, sent, lab.delay.stats())
	if r := size / took.Seconds(); r > rate*1.1 || r < rate*0.7 {
		t.Errorf("rate %.0f B/s, want about %d", r, rate)
	}
	if sent < size || sent > size*11/10 {
		t.Errorf("publisher eth0 sent %d bytes for %d of payload", sent, size)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestParseNetDev(t *testing.T) {
	const dev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1200      10    0    0    0     0          0         0     1200      10    0    0    0     0       0          0
  eth0: 98765432   70000    0    0    0     0          0         0 123456789   80000    0    3    0     0       0          0
`
	for _, tc := range []struct {
		name, text, dev string
		want            linkBytes
		wantErr         string
	}{
		{"eth0", dev, "eth0", linkBytes{rx: 98765432, tx: 123456789}, ""},
		{"lo", dev, "lo", linkBytes{rx: 1200, tx: 1200}, ""},
		{"missing", dev, "eth1", linkBytes{}, "no device eth1"},
		{"prefix is not a match", dev, "eth", linkBytes{}, "no device eth"},
		{"short line", "eth0: 1 2 3\n", "eth0", linkBytes{}, "3 fields"},
		{"not a number", "eth0: x 0 0 0 0 0 0 0 5 0 0 0 0 0 0 0\n", "eth0", linkBytes{}, "bad byte counts"},
		{"negative", "eth0: -1 0 0 0 0 0 0 0 5 0 0 0 0 0 0 0\n", "eth0", linkBytes{}, "bad byte counts"},
		{"empty", "", "eth0", linkBytes{}, "no device eth0"},
	} {
		got, err := parseNetDev([]byte(tc.text), tc.dev)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestParseRTTsAndMethods(t *testing.T) {
	rtts, err := parseRTTs("0, 20ms,100ms")
	if err != nil || len(rtts) != 3 || rtts[0] != 0 || rtts[1] != 20*time.Millisecond || rtts[2] != 100*time.Millisecond {
		t.Errorf("parseRTTs: %v, %v", rtts, err)
	}
	for _, bad := range []string{"", "fast", "-5ms", "3s", "20"} {
		if _, err := parseRTTs(bad); err == nil {
			t.Errorf("parseRTTs(%q) accepted", bad)
		}
	}
	ms, err := parseMethods("distpac, transmission,distpac")
	if err != nil || strings.Join(ms, ",") != "distpac,transmission" {
		t.Errorf("parseMethods: %v, %v", ms, err)
	}
	if _, err := parseMethods("distpac,http"); err == nil {
		t.Error("parseMethods accepted http")
	}
}

func TestQueueRange(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{nil, "-"},
		{[]int{0, 0}, "-"},
		{[]int{4, 4, 0}, "4"},
		{[]int{9, 5, 8}, "5–9"},
	} {
		if got := queueRange(tc.in); got != tc.want {
			t.Errorf("queueRange(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTbfArgs(t *testing.T) {
	got := strings.Join(tbfArgs("eth0", 2<<20, 100*time.Millisecond, 1500), " ")
	// 2 MiB/s: a 20 KiB bucket (10 ms), a queue of the bucket and 100 ms.
	want := "qdisc add dev eth0 root tbf rate 16777216bit burst 20971 limit 230686"
	if got != want {
		t.Errorf("tbfArgs = %q\nwant %q", got, want)
	}
	// Slow links keep a bucket above one GSO-less frame, and a queue of
	// 50 ms at zero round trip.
	got = strings.Join(tbfArgs("eth0", 100<<10, 0, 1500), " ")
	if want := "burst 16384 limit 21504"; !strings.HasSuffix(got, want) {
		t.Errorf("tbfArgs at 100 KiB/s = %q, want it to end %q", got, want)
	}
	// Jumbo frames: the bucket holds two of them (tbf drops a packet
	// larger than its bucket).
	got = strings.Join(tbfArgs("eth0", 100<<10, 0, 9000), " ")
	if want := "burst 18028 limit 23148"; !strings.HasSuffix(got, want) {
		t.Errorf("tbfArgs at 100 KiB/s, MTU 9000 = %q, want it to end %q", got, want)
	}
}

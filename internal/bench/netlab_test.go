package bench

import (
	"context"
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
	ctx := context.Background()
	s, err := measureRTT(ctx, lay.clients[0], lay.publisher)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rtt: %v", s)
	for _, d := range []time.Duration{s.Connect, s.Median, s.MinRTT} {
		if d < rtt || d > rtt+10*time.Millisecond {
			t.Errorf("measured %v, want %v to %v (%v)", d, rtt, rtt+10*time.Millisecond, s)
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

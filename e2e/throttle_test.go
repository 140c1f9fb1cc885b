package e2e

import (
	"testing"
	"time"
)

// TestThrottledServerUpload: a 64 MiB install from a server with
// upload_rate_limit 16MiB takes about 4 s. It used to stop after 16 MiB for
// good: a lost wake-up in the library's writer, fixed in the patched copy
// in third_party/anacrolix-torrent.
func TestThrottledServerUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB at a capped rate")
	}
	const size = 64 << 20
	r := newRig(t, "upload_rate_limit: \"16MiB\"\n")
	pkg := r.mkpkg("capped", "1.0.0", size)
	r.server("add", pkg)
	r.server("start")
	r.client1("sync")
	start := time.Now()
	out, err := r.try("dist-client", "client1", "client1.yaml", "install", "--stall-timeout", "15s", "capped")
	if err != nil {
		t.Fatalf("install after %s (server sent %d of %d bytes): %v\n%s", time.Since(start).Round(time.Millisecond), r.uploaded(), size, err, out)
	}
	t.Logf("64 MiB at 16 MiB/s in %s", time.Since(start).Round(time.Millisecond))
}

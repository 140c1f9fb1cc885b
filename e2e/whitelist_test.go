package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOpentrackerCannotReadWhitelist is a newcomer's run of the README's
// opentracker set-up: the whitelist in a data home made with mktemp -d
// (mode 0700), opentracker dropped to nobody, which cannot read it
// ("Can't open accesslist file") and refuses every announce. The seeder's
// refusals were WARN lines in the log and dist-server status showed only
// "tracker: off"; it now shows the tracker refusing, why, since when, and
// what to check.
func TestOpentrackerCannotReadWhitelist(t *testing.T) {
	if testing.Short() {
		t.Skip("runs opentracker")
	}
	if os.Geteuid() != 0 {
		t.Skip("opentracker drops to nobody only when started as root; as this user it reads the whitelist")
	}
	bin := needProgram(t, "opentracker")
	dir, err := os.MkdirTemp("", "distpac-whitelist-") // mode 0700, as mktemp -d makes it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	wl := filepath.Join(dir, "whitelist")
	r, ot := opentrackerRig(t, wl)
	otURL := ot.url
	r.server("add", r.mkpkg("alpha", "1.0.0", 100<<10))
	daemonProcess(t, ot.addr, syscall.SIGTERM, bin, ot.args...)
	r.server("start", "--no-tracker")

	want := "announce: " + otURL + " refuses the seeder's announces: Requested download is not authorized"
	var out string
	if !poll(20*time.Second, func() bool { out = r.server("status"); return strings.Contains(out, want) }) {
		t.Fatalf("dist-server status does not say that opentracker refuses the seeder:\n%s", out)
	}
	t.Logf("dist-server status:\n%s", out)
	for _, s := range []string{"(since ", "1 of 1 package)", "; check that the tracker's user can read tracker_whitelist " + wl + ", and that the tracker read it again since it last changed (SIGHUP) (README: opentracker)"} {
		if !strings.Contains(out, s) {
			t.Errorf("dist-server status lacks %q:\n%s", s, out)
		}
	}
	var st struct {
		SeederAnnounces []struct {
			URL     string `json:"url"`
			Failing int    `json:"failing"`
			Refused bool   `json:"refused"`
		} `json:"seeder_announces"`
	}
	js := r.server("status", "--json")
	if err := json.Unmarshal([]byte(js), &st); err != nil || len(st.SeederAnnounces) != 1 || st.SeederAnnounces[0].URL != otURL || st.SeederAnnounces[0].Failing != 1 || !st.SeederAnnounces[0].Refused {
		t.Errorf("dist-server status --json: seeder_announces %+v (%v), want opentracker refusing 1", st.SeederAnnounces, err)
	}
}

// opentrackerAt is where an opentracker of a test listens, and the
// arguments that start it there.
type opentrackerAt struct {
	addr, url string
	args      []string
}

// opentrackerRig is a rig whose torrents announce to an opentracker on a
// free port, with tracker_whitelist wl. Its URL is written into the
// torrents at add time, so its port is chosen first; it starts after the
// first add, which writes the whitelist it reads at start.
func opentrackerRig(t *testing.T, wl string) (*rig, opentrackerAt) {
	t.Helper()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	ot := opentrackerAt{addr: ports[0], url: "http://" + ports[0] + "/announce"}
	_, port, _ := strings.Cut(ot.addr, ":")
	// Debian's opentracker refuses to run as root unless it drops to a
	// user (-u), and then chroots to -d at once; "/" keeps the
	// whitelist's path the same inside and outside the chroot, which its
	// reader thread races (shared PEERS.md).
	ot.args = []string{"-i", "127.0.0.1", "-p", port, "-P", port, "-w", wl}
	if os.Geteuid() == 0 {
		ot.args = append(ot.args, "-u", "nobody", "-d", "/")
	}
	return newRig(t, fmt.Sprintf("announce_url: %s\ntracker_whitelist: %s\n", ot.url, wl)), ot
}

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/disktest"
)

// TestMirrorDiskFull: a primary whose archives outgrow its mirror's disk
// (three of 24 MiB, a 70 MiB disk) then publishes packages whose texts
// make its catalog 1.4 MiB. The mirror mirrors the two archives that fit
// beside the room it keeps, says in its log why not the third, and
// serves the new catalog: it filled the disk, every later sync failed
// ("no space left on device"), and it served the old catalog toward its
// expiry.
func TestMirrorDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("a primary and a mirror moving 72 MiB")
	}
	r := newRig(t, "")
	primary := "http://" + r.h.dbAddr
	mirror := "http://" + r.h.mirrorAddr
	const size = 24 << 20
	r.server("add", r.mkpkg("alpha", "1.0.0", size), r.mkpkg("beta", "1.0.0", size), r.mkpkg("gamma", "1.0.0", size))
	r.server("start")

	home := r.path("mirror")
	disktest.Tmpfs(t, home, "70m")
	r.startMirror(r.mirrorYAML(""), mirror, "", "--interval", "300ms", primary)
	samePair(t, primary, mirror)

	text := strings.Repeat("0123456789abcdef", 60<<10/16)
	var more []string
	for i := range 8 {
		dir := r.mkpkg(fmt.Sprintf("delta%d", i), "1.0.0", 10<<10)
		manifest := fmt.Sprintf("version: 1.0.0\ndescription: %s\nlicense: %s\nhomepage: %s\n", text, text, text)
		if err := os.WriteFile(filepath.Join(dir, "manifest.yaml"), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		more = append(more, dir)
	}
	r.server(append([]string{"add"}, more...)...)
	r.waitServed()
	samePair(t, primary, mirror)

	served := 0
	for _, n := range []string{"alpha", "beta", "gamma"} {
		if code, _ := get(t, mirror+"/packages/"+n+"-1.0.0.tar.zst"); code == 200 {
			served++
		}
	}
	if served != 2 {
		t.Errorf("the mirror serves %d of alpha, beta and gamma; want the 2 that fit", served)
	}
	logPath := filepath.Join(home, "distpac", "server", "server.log")
	var log []byte
	if !poll(10*time.Second, func() bool {
		log, _ = os.ReadFile(logPath)
		return strings.Contains(string(log), "not enough disk space to mirror every archive")
	}) {
		t.Errorf("%s does not say an archive did not fit:\n%s", logPath, log)
	}
	if strings.Contains(string(log), "no space left on device") {
		t.Errorf("the mirror filled its disk:\n%s", log)
	}
}

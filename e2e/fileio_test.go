package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFileIOInitOrder holds the trick in internal/fileio: its init must run
// before the BitTorrent library's storage package reads
// TORRENT_STORAGE_DEFAULT_FILE_IO, or payloads are mmapped and every
// downloaded byte counts in the client's resident memory.
func TestFileIOInitOrder(t *testing.T) {
	for _, bin := range []string{"dist-client", "dist-server"} {
		cmd := exec.Command(filepath.Join(binDir, bin), "--help")
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s --help: %v", bin, err)
		}
		text := string(out)
		fio := strings.Index(text, "init github.com/distpac/distpac/internal/fileio ")
		st := strings.Index(text, "init github.com/anacrolix/torrent/storage ")
		if fio < 0 || st < 0 {
			t.Fatalf("%s: init trace lacks fileio (%d) or the library's storage (%d)", bin, fio, st)
		}
		if fio > st {
			t.Fatalf("%s: internal/fileio initialised after the library's storage package: payloads would be mmapped", bin)
		}
	}
}

// TestOneStartInitOrder holds internal/procs/onestart's place: a
// dist-client goes to one processor before the heavy inits of the
// libraries run (SQLite's C library, the BitTorrent library), or the
// runtime flushes a second processor's caches that they filled (procs'
// doc). dist-server does not import it: its engine is governed from every
// core.
func TestOneStartInitOrder(t *testing.T) {
	trace := func(bin string) string {
		cmd := exec.Command(filepath.Join(binDir, bin), "--help")
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s --help: %v", bin, err)
		}
		return string(out)
	}
	const one = "init github.com/distpac/distpac/internal/procs/onestart "
	text := trace("dist-client")
	at := strings.Index(text, one)
	if at < 0 {
		t.Fatal("dist-client: the init trace lacks internal/procs/onestart")
	}
	for _, heavy := range []string{"init modernc.org/libc ", "init github.com/anacrolix/torrent "} {
		h := strings.Index(text, heavy)
		if h < 0 {
			t.Fatalf("dist-client: the init trace lacks %q", heavy)
		}
		if h < at {
			t.Errorf("dist-client: %q ran before internal/procs/onestart", heavy)
		}
	}
	if strings.Contains(trace("dist-server"), one) {
		t.Error("dist-server imports internal/procs/onestart")
	}
}

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

package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestExtractDigests: each regular file written, inline, by the writers
// or large, has the Digest of its content on the disk and of the file as
// it is; a file written since is no longer the Same; hardlink entries
// have none of their own.
func TestExtractDigests(t *testing.T) {
	var ms []member
	want := map[string]string{}
	for i := range inlineSmall + 20 { // past inlineSmall: the writers write the rest
		name := fmt.Sprintf("assets/small/%02d", i)
		ms = append(ms, reg(name, strings.Repeat(name, i+1)))
		want[name] = strings.Repeat(name, i+1)
	}
	big := strings.Repeat("0123456789abcdef", (writebackEvery+smallFile)/16+3)
	ms = append(ms, reg("assets/big", big), hardlink("assets/big.link", "assets/small/01"), reg("assets/empty", ""))
	want["assets/big"], want["assets/empty"] = big, ""
	dest := filepath.Join(t.TempDir(), "dest")
	d, err := ExtractDigests(context.Background(), bytes.NewReader(compress(t, tarBytes(t, ms))), dest, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	stat := func(name string) *unix.Stat_t {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(dest, name), &st); err != nil {
			t.Fatal(err)
		}
		return &st
	}
	for name, content := range want {
		g, ok := d.Lookup(name)
		if !ok {
			t.Errorf("%s: no digest", name)
			continue
		}
		if g.SHA256 != sha256.Sum256([]byte(content)) || g.Size != int64(len(content)) {
			t.Errorf("%s: digest of %d bytes %x, want %d bytes %x", name, g.Size, g.SHA256, len(content), sha256.Sum256([]byte(content)))
		}
		// small/01 was hardlinked since, which may or may not have moved
		// its change time's tick: its content is the digest's anyway.
		if name != "assets/small/01" && !g.Same(stat(name)) {
			t.Errorf("%s: not the Same as extracted", name)
		}
	}
	if _, ok := d.Lookup("assets/big.link"); ok {
		t.Error("the hardlink entry has a digest of its own")
	}
	// Rewritten in place at the same size, past the change time's tick
	// (a jiffy on ext4), then at another size.
	g, _ := d.Lookup("assets/small/02")
	p := filepath.Join(dest, "assets/small/02")
	time.Sleep(20 * time.Millisecond)
	if err := os.WriteFile(p, bytes.Repeat([]byte("x"), int(g.Size)), 0o644); err != nil {
		t.Fatal(err)
	}
	if g.Same(stat("assets/small/02")) {
		t.Error("a file rewritten since it was extracted is still the Same")
	}
	g, _ = d.Lookup("assets/small/03")
	if err := os.WriteFile(filepath.Join(dest, "assets/small/03"), []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	if g.Same(stat("assets/small/03")) {
		t.Error("a file of another size since it was extracted is still the Same")
	}
}

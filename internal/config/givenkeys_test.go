package config

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestGivenKeys: the keys set in a server.yaml, in its order; none when
// there is no file; and a path that is no small regular file (dist-server
// mirror reads the file again after loading it) is an error, at once,
// where os.ReadFile read /dev/zero until memory ran out.
func TestGivenKeys(t *testing.T) {
	dir := t.TempDir()
	yaml := filepath.Join(dir, "server.yaml")
	if err := os.WriteFile(yaml, []byte("peer_addr: \":6881\"\nweb_seed:\ndatabase_addr: \":9090\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	// YAML that reads well but for its size: comments, then a key.
	comments := slices.Repeat([]byte("# a comment\n"), maxConfigSize/12+1)
	if err := os.WriteFile(big, append(comments, "web_seed: true\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path string
		want       []string
		fails      bool
	}{
		{"keys in order", yaml, []string{"peer_addr", "database_addr"}, false},
		{"no file", filepath.Join(dir, "absent.yaml"), nil, false},
		{"over the bound", big, nil, true},
		{"a device", "/dev/zero", nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := os.Stat(tt.path); tt.path == "/dev/zero" && err != nil {
				t.Skip("no /dev/zero")
			}
			start := time.Now()
			got, err := GivenKeys(tt.path)
			if (err != nil) != tt.fails || !slices.Equal(got, tt.want) {
				t.Fatalf("GivenKeys = %q, %v; want %q, failing %v", got, err, tt.want, tt.fails)
			}
			t.Logf("%v after %v", err, time.Since(start).Round(time.Millisecond))
		})
	}
}

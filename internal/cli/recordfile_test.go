package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/cobra"
)

// TestCreateRecord: a recording variable's file is made or reused when it
// is the caller's own regular file, and refused, untouched, when its name
// leads elsewhere: another user's symlink or file in /tmp, a hard link.
func TestCreateRecord(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, path, victim string)
		err   string // "" when the file is taken
	}{
		{"new", func(*testing.T, string, string) {}, ""},
		{"own file, emptied", func(t *testing.T, path, _ string) { writeFile(t, path, "old profile") }, ""},
		{"symlink", func(t *testing.T, path, victim string) { must(t, os.Symlink(victim, path)) }, "is a symlink; not followed"},
		{"dangling symlink", func(t *testing.T, path, victim string) { must(t, os.Symlink(victim+".new", path)) }, "is a symlink; not followed"},
		{"hard link", func(t *testing.T, path, victim string) { must(t, os.Link(victim, path)) }, "has 2 hard links"},
		{"fifo", func(t *testing.T, path, _ string) { must(t, syscall.Mkfifo(path, 0o644)) }, "not a regular file"},
		{"another user's file", func(t *testing.T, path, _ string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give a file to another user")
			}
			writeFile(t, path, "theirs")
			must(t, os.Chown(path, 4242, 4242))
		}, "owned by uid 4242, not by this user (uid 0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path, victim := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "shadow")
			writeFile(t, victim, "root's secret")
			tt.setup(t, path, victim)
			f, err := createRecord(path)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString("profile")
				f.Close()
				if b, _ := os.ReadFile(path); string(b) != "profile" {
					t.Errorf("%s holds %q, want %q", path, b, "profile")
				}
			} else {
				if err == nil {
					f.Close()
					t.Fatalf("createRecord took %s", path)
				}
				if !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), path) {
					t.Errorf("error %q, want one naming %s with %q", err, path, tt.err)
				}
			}
			if b, _ := os.ReadFile(victim); string(b) != "root's secret" {
				t.Errorf("the file behind the name holds %q", b)
			}
		})
	}
}

// TestRecordThroughSymlink: a command whose DISTPAC_CPUPROFILE names
// another user's symlink says so and runs; the file it leads to is left.
func TestRecordThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	victim, link := filepath.Join(dir, "shadow"), filepath.Join(dir, "cpu.prof")
	writeFile(t, victim, "root's secret")
	must(t, os.Symlink(victim, link))
	for _, env := range []string{CPUProfileEnv, TraceEnv, MemProfileEnv, PeakRSSEnv} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, link)
			root := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
			var out, errOut bytes.Buffer
			if code := Run(context.Background(), "x", root, nil, Stdio{In: strings.NewReader(""), Out: &out, Err: &errOut}); code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			if want := "x: " + env + ": open " + link + ": is a symlink"; !strings.Contains(errOut.String(), want) {
				t.Errorf("stderr %q, want %q", errOut.String(), want)
			}
			if b, _ := os.ReadFile(victim); string(b) != "root's secret" {
				t.Errorf("the symlink's target was written: %d bytes, starting %q", len(b), b[:min(len(b), 16)])
			}
		})
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(text), 0o600))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

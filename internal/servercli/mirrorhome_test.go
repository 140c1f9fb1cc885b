package servercli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/paths"
)

// In a mirror's data home every command that publishes or changes the
// catalog or the signing key refuses, as key does, and leaves no key or
// catalog behind: add made both, after which key printed a key of its own
// and list showed the stray catalog while the mirror served the primary's.
func TestMirrorHomeRefusesPublishing(t *testing.T) {
	pkg := writePackage(t, "hello")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"add", pkg}, "dist-server: add: this data home is a mirror's (%s): it has no signing key, and its catalog is signed by the primary's key: run dist-server add on the primary"},
		{[]string{"remove", "hello@1.0.0"}, "dist-server: remove: this data home is a mirror's (%s): it has no signing key, and its catalog is signed by the primary's key: run dist-server remove on the primary"},
		{[]string{"remove", "--yes", "hello"}, "dist-server: remove: this data home is a mirror's (%s)"},
		{[]string{"republish", "--past", "20261207205800"}, "dist-server: republish: this data home is a mirror's (%s): it has no signing key, and its catalog is signed by the primary's key: run dist-server republish on the primary"},
		{[]string{"key"}, "dist-server: key: this data home is a mirror's (%s): it has no signing key, and its catalog is signed by the primary's key: run dist-server key on the primary"},
		{[]string{"key", "rotate"}, "dist-server: key rotate: this data home is a mirror's (%s): it has no signing key, and its catalog is signed by the primary's key: run dist-server key rotate on the primary"},
		{[]string{"start", "--foreground"}, "dist-server: start: this data home is a mirror's (%s): it has no signing key, and its catalog is signed by the primary's key: run dist-server mirror URL"},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(strings.Join(tt.args, " "), pkg, "PKG"), func(t *testing.T) {
			data := t.TempDir()
			t.Setenv("XDG_DATA_HOME", data)
			sp := paths.Home{Root: filepath.Join(data, "distpac")}.Server()
			// What dist-server mirror leaves, even when it failed to start.
			if err := os.MkdirAll(sp.MirrorCatalog(), 0o755); err != nil {
				t.Fatal(err)
			}
			config := filepath.Join(t.TempDir(), "server.yaml")
			os.WriteFile(config, []byte("database_addr: \"127.0.0.1:0\"\ntracker_addr: \"127.0.0.1:0\"\npeer_addr: \"127.0.0.1:0\"\n"), 0o644)
			var stdout, stderr bytes.Buffer
			// Bounded: before the fix start served a catalog of its own
			// until interrupted.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code := Main(ctx, append([]string{"--config", config}, tt.args...), strings.NewReader(""), &stdout, &stderr)
			want := strings.ReplaceAll(tt.want, "%s", filepath.Dir(sp.MirrorCatalog()))
			if code != cli.ExitFailure || !strings.HasPrefix(stderr.String(), want) {
				t.Errorf("dist-server %s: exit %d, stderr:\n%s\nwant exit %d and a line starting:\n%s", strings.Join(tt.args, " "), code, stderr.String(), cli.ExitFailure, want)
			}
			for _, f := range []string{sp.SigningKey(), sp.Catalog(), sp.PublicDir()} {
				if _, err := os.Stat(f); !os.IsNotExist(err) {
					t.Errorf("dist-server %s made %s (%v)", strings.Join(tt.args, " "), f, err)
				}
			}
		})
	}
}

// status of a stopped mirror says how to start it: start refuses in a
// mirror's data home (a newcomer was told "dist-server start").
func TestStoppedStatusHint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mirror bool
		died   bool // a server.json left by a server killed -9
		want   string
	}{
		{"a publisher's data home", false, false, "hint: start it with: dist-server start\n"},
		{"a mirror's data home", true, false, "hint: start it with: dist-server mirror URL (the primary's; start refuses in a mirror's data home)\n"},
		{"a publisher that died", false, true, "hint: start it with: dist-server start\n"},
		{"a mirror that died", true, true, "hint: start it with: dist-server mirror URL (the primary's; start refuses in a mirror's data home)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			t.Setenv("XDG_DATA_HOME", data)
			sp := paths.Home{Root: filepath.Join(data, "distpac")}.Server()
			dir := sp.Dir // a publisher's: an add made it
			if tc.mirror {
				dir = sp.MirrorCatalog()
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.died {
				if err := os.WriteFile(sp.PIDFile(), []byte(`{"pid":4242,"started":"2026-12-07T21:00:00Z"}`), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			config := filepath.Join(t.TempDir(), "server.yaml")
			os.WriteFile(config, []byte("database_addr: \"127.0.0.1:0\"\n"), 0o644)
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), []string{"--config", config, "status"}, strings.NewReader(""), &stdout, &stderr)
			if code != cli.ExitFailure || !strings.Contains(stderr.String(), "status: not running") || !strings.HasSuffix(stderr.String(), tc.want) {
				t.Errorf("dist-server status: exit %d, stderr:\n%s\nwant exit %d, not running, and it to end:\n%s", code, stderr.String(), cli.ExitFailure, tc.want)
			}
			if died := strings.Contains(stderr.String(), "(pid 4242, started ") && strings.Contains(stderr.String(), "ended without stopping"); died != tc.died {
				t.Errorf("dist-server status said the server died: %v, want %v:\n%s", died, tc.died, stderr.String())
			}
		})
	}
}

// Every directory of the data home is refused when another user can
// change it, the mirror's too: its catalog directory holds the key it
// pins, as a client's does.
func TestDataDirsOthersCanChange(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  func(paths.Server) string
	}{
		{"the data directory", func(sp paths.Server) string { return sp.Dir }},
		{"public", paths.Server.PublicDir},
		{"archives", paths.Server.Archives},
		{"the mirror's", func(sp paths.Server) string { return filepath.Dir(sp.MirrorCatalog()) }},
		{"the mirror's catalog", paths.Server.MirrorCatalog},
		{"the mirror's archives", paths.Server.MirrorArchives},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			t.Setenv("XDG_DATA_HOME", data)
			sp := paths.Home{Root: filepath.Join(data, "distpac")}.Server()
			dir := tc.dir(sp)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), []string{"status"}, strings.NewReader(""), &stdout, &stderr)
			want := "dist-server: data directory "
			if code != cli.ExitFailure || !strings.HasPrefix(stderr.String(), want) || !strings.Contains(stderr.String(), ": "+dir+" is writable by its group and others") {
				t.Errorf("dist-server status with %s mode 0777: exit %d, stderr:\n%s\nwant exit %d and it named as writable by others", dir, code, stderr.String(), cli.ExitFailure)
			}
		})
	}
}

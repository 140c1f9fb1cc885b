package clientcli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/state"
)

// TestUnsafeFilesAndPrefix: a file the client trusts in its data directory
// that another user can change is refused by every command, as the
// directories are (installed.db was not checked: a 0666 one let anyone
// plant records and journals); a prefix others can write is refused only
// by the commands that place or remove files there, and the others work
// with a warning (every command refused it: sync, list, search, info).
func TestUnsafeFilesAndPrefix(t *testing.T) {
	root := os.Geteuid() == 0
	tests := []struct {
		name     string
		root     bool                                   // needs root (chown)
		setup    func(t *testing.T, dir, prefix string) // dir: the client directory
		args     []string
		wantCode int
		wantErr  string // in stderr
		noErr    string // not in stderr
	}{
		{name: "0666 installed.db", setup: chmod("installed.db", 0o666), args: []string{"list", "--installed"}, wantCode: 1,
			wantErr: "dist-client: data file DIR/installed.db: DIR/installed.db is writable by its group and others (mode -rw-rw-rw-); someone else could then change what distpac trusts, installs and runs (fix: 'chmod go-w DIR/installed.db')"},
		{name: "installed.db writable by another group", root: true, args: []string{"history"}, wantCode: 1,
			setup: func(t *testing.T, dir, _ string) {
				chmod("installed.db", 0o664)(t, dir, "")
				if err := os.Chown(filepath.Join(dir, "installed.db"), -1, 4242); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "DIR/installed.db is writable by its group (gid 4242) (mode -rw-rw-r--)"},
		// root's primary group is root, named as root: its private group,
		// as a user's is under umask 002.
		{name: "installed.db writable by the private group", root: true, setup: chmod("installed.db", 0o664), args: []string{"history"}, wantCode: 0,
			noErr: "installed.db"},
		{name: "writable WAL", setup: write("installed.db-wal", 0o646), args: []string{"list", "--installed"}, wantCode: 1,
			wantErr: "data file DIR/installed.db-wal: DIR/installed.db-wal is writable by others"},
		{name: "writable pinned key", setup: write("server.key", 0o666), args: []string{"list", "--installed"}, wantCode: 1,
			wantErr: "data file DIR/server.key: DIR/server.key is writable by its group and others"},
		{name: "installed.db of another user", root: true, args: []string{"list", "--installed"}, wantCode: 1,
			setup: func(t *testing.T, dir, _ string) {
				if err := os.Chown(filepath.Join(dir, "installed.db"), 4242, 4242); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "data file DIR/installed.db: DIR/installed.db is owned by uid 4242"},
		{name: "world-writable prefix, list", setup: chmodPrefix(0o777), args: []string{"list", "--installed"}, wantCode: 0,
			wantErr: "warning: prefix PREFIX: PREFIX is writable by its group and others (mode drwxrwxrwx); someone else could then change what distpac trusts, installs and runs (fix: 'chmod go-w PREFIX'); install, upgrade and uninstall refuse it until then\n"},
		{name: "world-writable prefix, history", setup: chmodPrefix(0o777), args: []string{"history"}, wantCode: 0,
			wantErr: "warning: prefix PREFIX: PREFIX is writable"},
		{name: "world-writable prefix, uninstall", setup: chmodPrefix(0o777), args: []string{"uninstall", "hello"}, wantCode: 1,
			wantErr: "dist-client: prefix PREFIX: PREFIX is writable by its group and others", noErr: "warning"},
		{name: "world-writable prefix, install", setup: chmodPrefix(0o777), args: []string{"install", "hello"}, wantCode: 1,
			wantErr: "dist-client: prefix PREFIX: PREFIX is writable by its group and others", noErr: "warning"},
		{name: "world-writable prefix, upgrade", setup: chmodPrefix(0o777), args: []string{"upgrade"}, wantCode: 1,
			wantErr: "dist-client: prefix PREFIX: PREFIX is writable by its group and others", noErr: "warning"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && !root {
				t.Skip("needs root to give a file to another user")
			}
			ctx := context.Background()
			dir, prefix, cfg := clientHome(t)
			db, err := state.Open(ctx, filepath.Join(dir, "installed.db"), prefix)
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			tt.setup(t, dir, prefix)
			var out, errOut bytes.Buffer
			code := Main(ctx, append([]string{"--config", cfg}, tt.args...), strings.NewReader(""), &out, &errOut)
			want := strings.NewReplacer("DIR", dir, "PREFIX", prefix).Replace(tt.wantErr)
			if code != tt.wantCode || !strings.Contains(errOut.String(), want) {
				t.Fatalf("%v: exit %d, stderr:\n%s\nwant exit %d and %q", tt.args, code, errOut.String(), tt.wantCode, want)
			}
			if tt.noErr != "" && strings.Contains(errOut.String(), tt.noErr) {
				t.Fatalf("%v: stderr says %q:\n%s", tt.args, tt.noErr, errOut.String())
			}
			if strings.Count(errOut.String(), "warning: prefix") > 1 {
				t.Fatalf("%v: the prefix warned of more than once:\n%s", tt.args, errOut.String())
			}
		})
	}
}

func chmod(name string, mode os.FileMode) func(t *testing.T, dir, _ string) {
	return func(t *testing.T, dir, _ string) {
		if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
			t.Fatal(err)
		}
	}
}

func write(name string, mode os.FileMode) func(t *testing.T, dir, _ string) {
	return func(t *testing.T, dir, _ string) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
}

func chmodPrefix(mode os.FileMode) func(t *testing.T, _, prefix string) {
	return func(t *testing.T, _, prefix string) {
		if err := os.Chmod(prefix, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// clientHome makes a client's data home (XDG_DATA_HOME, set for the test)
// with its client directory, a prefix and a client.yaml naming them: the
// client directory, the prefix and the config's path.
func clientHome(t *testing.T) (dir, prefix, cfg string) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("XDG_DATA_HOME", home)
	dir = filepath.Join(home, "distpac", "client")
	prefix = filepath.Join(home, "prefix")
	for _, d := range []string{dir, prefix} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg = filepath.Join(home, "client.yaml")
	if err := os.WriteFile(cfg, []byte("server_url: http://127.0.0.1:9\nprefix: "+prefix+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, prefix, cfg
}

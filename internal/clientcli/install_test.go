package clientcli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/cli"
)

// TestStallTimeoutAboveZero: --stall-timeout 0 (read as "never give up",
// as a timeout of 0 means in many tools) and a negative one were taken as
// the default 2m without a word (a newcomer's run); they are usage errors
// that say what is wanted.
func TestStallTimeoutAboveZero(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_DATA_HOME", home)
	cfg := filepath.Join(home, "client.yaml")
	if err := os.WriteFile(cfg, []byte("server_url: http://127.0.0.1:9\nprefix: "+filepath.Join(home, "prefix")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"install", "--stall-timeout", "0", "hello"}, "dist-client: --stall-timeout 0s: want a duration above 0, such as 5m"},
		{[]string{"install", "--stall-timeout", "-1m", "hello"}, "dist-client: --stall-timeout -1m0s: want a duration above 0, such as 5m"},
		{[]string{"upgrade", "--stall-timeout", "0s"}, "dist-client: --stall-timeout 0s: want a duration above 0, such as 5m"},
	} {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), append([]string{"--config", cfg}, tt.args...), strings.NewReader(""), &out, &errOut)
		if code != cli.ExitUsage || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit %d and %q", tt.args, code, errOut.String(), cli.ExitUsage, tt.want)
		}
	}
}

// TestInstallRefusesAPath: a path given to install (pacman -U, apt install
// ./x.deb) is a usage error that says install takes catalog names and how a
// package directory gets there. `install ./examples/hello` said that the
// name contains "/" and "did you mean hello?", the catalog's hello, not
// the directory's (a newcomer's run).
func TestInstallRefusesAPath(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_DATA_HOME", home)
	cfg := filepath.Join(home, "client.yaml")
	if err := os.WriteFile(cfg, []byte("server_url: http://127.0.0.1:9\nprefix: "+filepath.Join(home, "prefix")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{"./examples/hello", "/srv/pkgs/hello-1.0.0.tar.zst", "pkgs/hello"} {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), []string{"--config", cfg, "install", "hello", arg}, strings.NewReader(""), &out, &errOut)
		want := "dist-client: \"" + arg + "\" is a path: install takes names of packages in the synced catalog, not package directories or archives\n" +
			"hint: publish a package directory with dist-server add DIR; then dist-client sync and dist-client install NAME\n"
		if code != cli.ExitUsage || !strings.HasPrefix(errOut.String(), want) {
			t.Errorf("install %s: exit %d, stderr:\n%s\nwant exit %d and:\n%s", arg, code, errOut.String(), cli.ExitUsage, want)
		}
	}
}

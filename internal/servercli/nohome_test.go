package servercli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/cli"
)

// The commands that only look, and those that only change what an earlier
// add made (remove, key rotate), make nothing on a fresh data home: they
// say there is no data directory yet, where, and what to run, through
// the one error funnel (exit 1, a hint); stop says no server runs. They
// made distpac/server, an empty data directory that then passed for a
// publisher's. key new makes the directory on purpose: it writes the key
// asked for there.
func TestLookingMakesNoDataDirectory(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout string // a line it starts with, "" for none
		stderr string // likewise; %s is the data directory
		hint   string
	}{
		{[]string{"status"}, cli.ExitFailure, "", "dist-server: status: no data directory yet at %s (nothing was added or started with this data home)",
			"hint: publish packages with dist-server add PATH..., then serve them with dist-server start"},
		{[]string{"status", "--json"}, cli.ExitFailure, "", "dist-server: status: no data directory yet at %s", "hint: publish packages"},
		{[]string{"list"}, cli.ExitFailure, "", "dist-server: list: no data directory yet at %s (nothing was added or started with this data home)",
			"hint: publish packages with dist-server add PATH..."},
		{[]string{"list", "--json"}, cli.ExitFailure, "", "dist-server: list: no data directory yet at %s", "hint: publish packages"},
		{[]string{"key"}, cli.ExitFailure, "", "dist-server: key: no data directory yet at %s (nothing was added or started with this data home)",
			"hint: the first dist-server add PATH... (or dist-server start) makes the signing key; then run dist-server key again"},
		{[]string{"key", "--json"}, cli.ExitFailure, "", "dist-server: key: no data directory yet at %s", "hint: the first dist-server add"},
		{[]string{"stop"}, cli.ExitOK, "no server running", "", ""},
		// remove and key rotate change only what an earlier add made.
		{[]string{"remove", "foo@1.0.0"}, cli.ExitFailure, "", "dist-server: remove: no data directory yet at %s (nothing was added or started with this data home)",
			"hint: nothing is published with this data home; dist-server add PATH... publishes packages"},
		{[]string{"remove", "--yes", "foo"}, cli.ExitFailure, "", "dist-server: remove: no data directory yet at %s", "hint: nothing is published"},
		{[]string{"republish"}, cli.ExitFailure, "", "dist-server: republish: no data directory yet at %s (nothing was added or started with this data home)",
			"hint: nothing is published with this data home; dist-server add PATH... publishes packages"},
		{[]string{"republish", "--past", "20261207205800"}, cli.ExitFailure, "", "dist-server: republish: no data directory yet at %s", "hint: nothing is published"},
		{[]string{"key", "rotate"}, cli.ExitFailure, "", "dist-server: key rotate: no data directory yet at %s (nothing was added or started with this data home)",
			"hint: the first dist-server add PATH... (or dist-server start) makes the signing key; rotate replaces it"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			data := t.TempDir()
			t.Setenv("XDG_DATA_HOME", data)
			dir := filepath.Join(data, "distpac", "server")
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
			lines := append(strings.Split(stderr.String(), "\n"), "")
			want := strings.ReplaceAll(tt.stderr, "%s", dir)
			if code != tt.code || !strings.HasPrefix(stdout.String(), tt.stdout) || tt.stderr == "" && stderr.Len() > 0 ||
				!strings.HasPrefix(lines[0], want) || !strings.HasPrefix(lines[1], tt.hint) {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d, stdout starting %q, stderr starting:\n%s\n%s",
					code, stdout.String(), stderr.String(), tt.code, tt.stdout, want, tt.hint)
			}
			if _, err := os.Lstat(filepath.Join(data, "distpac")); !os.IsNotExist(err) {
				t.Errorf("made %s (%v)", filepath.Join(data, "distpac"), err)
			}
		})
	}
}

// key makes no key in a data directory without one (a remove of the only
// package made it, or a start interrupted before its first publication):
// it says so and what makes one. key new makes the data directory and the
// key: that is what it is asked to do.
func TestKeyMakesNoKey(t *testing.T) {
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	dir := filepath.Join(data, "distpac", "server")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "signing.key")
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"key"}, strings.NewReader(""), &stdout, &stderr)
	want := "dist-server: key: no signing key yet at " + key + "\nhint: the first dist-server add PATH... (or dist-server start) makes the signing key"
	if code != cli.ExitFailure || !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("key: exit %d, stderr:\n%s\nwant exit 1 and:\n%s", code, stderr.String(), want)
	}
	if _, err := os.Lstat(key); !os.IsNotExist(err) {
		t.Errorf("key made %s (%v)", key, err)
	}

	// rotate says the same, with its own name and the hint, where it
	// printed "dist-server: no signing key yet, so nothing to rotate (...)"
	// with neither.
	stderr.Reset()
	code = Main(context.Background(), []string{"key", "rotate"}, strings.NewReader(""), &stdout, &stderr)
	want = "dist-server: key rotate: no signing key yet, so nothing to rotate\nhint: the first dist-server add PATH... (or dist-server start) makes the signing key; rotate replaces it"
	if code != cli.ExitFailure || !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("key rotate: exit %d, stderr:\n%s\nwant exit 1 and:\n%s", code, stderr.String(), want)
	}
	if _, err := os.Lstat(key); !os.IsNotExist(err) {
		t.Errorf("key rotate made %s (%v)", key, err)
	}

	fresh := t.TempDir()
	t.Setenv("XDG_DATA_HOME", fresh)
	stdout.Reset()
	stderr.Reset()
	if code := Main(context.Background(), []string{"key", "new"}, strings.NewReader(""), &stdout, &stderr); code != cli.ExitOK || !strings.HasPrefix(stdout.String(), "ed25519:") {
		t.Fatalf("key new on a fresh data home: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if _, err := os.Stat(filepath.Join(fresh, "distpac", "server", "signing.key")); err != nil {
		t.Errorf("key new: %v", err)
	}
	// No catalog was ever signed: no client pinned a key to be told of.
	if stderr.Len() != 0 {
		t.Errorf("key new on a fresh data home warned: %s", stderr.String())
	}
}

package e2e

// The systemd units in contrib/systemd: their commands are ones the real
// binaries accept, the server's data home is the directory systemd makes
// for it, and systemd-analyze verify (when installed) finds nothing wrong.

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitFile is the [Service] settings of a unit file that the test checks,
// each key with its values in order.
type unitFile struct {
	text     string
	settings map[string][]string
}

func readUnit(t *testing.T, name string) unitFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "contrib", "systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	u := unitFile{text: string(b), settings: map[string][]string{}}
	sc := bufio.NewScanner(strings.NewReader(u.text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: line %q is not KEY=VALUE", name, line)
		}
		u.settings[k] = append(u.settings[k], v)
	}
	return u
}

func TestSystemdUnits(t *testing.T) {
	tests := []struct {
		unit  string
		user  bool   // a user unit (systemctl --user)
		usage string // the help's usage line of the command ExecStart runs
	}{
		{"dist-server.service", false, "dist-server start [flags]"},
		{"dist-client.service", true, "dist-client daemon [flags]"},
	}
	for _, tt := range tests {
		t.Run(tt.unit, func(t *testing.T) {
			u := readUnit(t, tt.unit)
			execs := u.settings["ExecStart"]
			if len(execs) != 1 {
				t.Fatalf("ExecStart lines: %q, want one", execs)
			}
			argv := strings.Fields(execs[0])
			bin := filepath.Join(binDir, filepath.Base(argv[0]))

			// The real CLI parses the command line: an unknown command or
			// flag would be a usage error (status 2) before --help.
			out, err := exec.Command(bin, append(argv[1:], "--help")...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s --help: %v\n%s", execs[0], err, out)
			}
			if !strings.Contains(string(out), "Usage:\n  "+tt.usage) {
				t.Fatalf("%s runs another command than %q:\n%s", execs[0], tt.usage, out)
			}

			if !tt.user {
				// The data home ($XDG_DATA_HOME/distpac) is the state
				// directory systemd creates for the service user.
				var home string
				for _, env := range u.settings["Environment"] {
					if v, ok := strings.CutPrefix(env, "XDG_DATA_HOME="); ok {
						home = filepath.Join(v, "distpac")
					}
				}
				state := u.settings["StateDirectory"]
				if len(state) != 1 || home != filepath.Join("/var/lib", state[0]) {
					t.Errorf("data home %q is not the StateDirectory %q under /var/lib", home, state)
				}
				if len(u.settings["User"]) != 1 || u.settings["User"][0] == "root" {
					t.Errorf("User = %q, want a dedicated user", u.settings["User"])
				}
			}

			analyze, err := exec.LookPath("systemd-analyze")
			if err != nil {
				t.Skipf("systemd-analyze is not installed; the units' ExecStart lines are checked, the rest is not")
			}
			// verify checks that ExecStart is executable: point it at the
			// binaries built for this test.
			dir := t.TempDir()
			text := strings.Replace(u.text, "ExecStart="+argv[0], "ExecStart="+bin, 1)
			path := filepath.Join(dir, tt.unit)
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"verify"}
			if tt.user {
				args = append(args, "--user")
			}
			cmd := exec.Command(analyze, append(args, path)...)
			// A user manager needs a runtime directory of its own.
			runtime := filepath.Join(dir, "runtime")
			if err := os.Mkdir(runtime, 0o700); err != nil {
				t.Fatal(err)
			}
			cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtime)
			out, err = cmd.CombinedOutput()
			// verify exits 0 on an unknown key, with a warning: any output
			// is a finding.
			if err != nil || len(out) > 0 {
				t.Fatalf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

package e2e

// The systemd units in contrib/systemd, every one: their commands are ones
// the real binaries accept, each system unit's data home is the directory
// systemd makes for it and its sandbox dist-server.service's, and
// systemd-analyze verify (when installed) finds nothing wrong.

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
		user  bool              // a user unit (systemctl --user)
		root  bool              // a system unit that runs as root, on purpose
		env   map[string]string // what its EnvironmentFile would give, for ExecStart
		usage string            // the help's usage line of the command ExecStart runs
	}{
		{"dist-server.service", false, false, nil, "dist-server start [flags]"},
		{"dist-client.service", true, false, nil, "dist-client daemon [flags]"},
		// A root client's data home must be root's: the client refuses
		// one another user owns.
		{"dist-client-root.service", false, true, nil, "dist-client daemon [flags]"},
		{"dist-server-mirror@.service", false, false, map[string]string{
			"DISTPAC_PRIMARY_URLS": "https://a.example.org http://b.example.org:9090",
			"PRIMARY_KEY":          "ed25519:nhUyOeuAEudmXC1pOpoLAtY+gIAKgSs2WRZ0rjaQuus=",
		}, "dist-server mirror [URL...] [flags]"},
	}
	// Every unit shipped is checked here, or by TestOpentrackerWhitelistUnits.
	var shipped []string
	for _, glob := range []string{"*.service", "*.path"} {
		m, err := filepath.Glob(filepath.Join("..", "contrib", "systemd", glob))
		if err != nil {
			t.Fatal(err)
		}
		shipped = append(shipped, m...)
	}
	checked := map[string]bool{whitelistPath: true, whitelistService: true}
	for _, tt := range tests {
		checked[tt.unit] = true
	}
	for _, path := range shipped {
		if !checked[filepath.Base(path)] {
			t.Errorf("contrib/systemd/%s is not checked by TestSystemdUnits", filepath.Base(path))
		}
	}
	server := readUnit(t, "dist-server.service")
	for _, tt := range tests {
		t.Run(tt.unit, func(t *testing.T) {
			u := readUnit(t, tt.unit)
			execs := u.settings["ExecStart"]
			if len(execs) != 1 {
				t.Fatalf("ExecStart lines: %q, want one", execs)
			}
			argv := expandExec(t, execs[0], tt.env)
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
				// directory systemd creates for the service.
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
				switch user := u.settings["User"]; {
				case tt.root && len(user) != 0:
					t.Errorf("User = %q, want root (none set)", user)
				case !tt.root && (len(user) != 1 || user[0] == "root"):
					t.Errorf("User = %q, want a dedicated user", user)
				}
				// The system units are sandboxed alike: root or not, none
				// needs a capability.
				for k, v := range server.settings {
					if !hardening(k) {
						continue
					}
					if got := u.settings[k]; !slices.Equal(got, v) {
						t.Errorf("%s = %q, want %q as in dist-server.service", k, got, v)
					}
				}
			}

			// verify checks that ExecStart is executable: point it at the
			// binaries built for this test.
			text := strings.Replace(u.text, "ExecStart="+strings.Fields(execs[0])[0], "ExecStart="+bin, 1)
			analyzeVerify(t, tt.user, map[string]string{tt.unit: text})
		})
	}
}

// analyzeVerify runs systemd-analyze verify on the units (file name:
// text), written side by side in a temporary directory, and fails on any
// output; it skips the test where systemd-analyze is not installed.
func analyzeVerify(t *testing.T, user bool, units map[string]string) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skipf("systemd-analyze is not installed; the units' ExecStart lines are checked, the rest is not")
	}
	dir := t.TempDir()
	args := []string{"verify"}
	if user {
		args = append(args, "--user")
	}
	for name, text := range units {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, path)
	}
	cmd := exec.Command(analyze, args...)
	// A user manager needs a runtime directory of its own.
	runtime := filepath.Join(dir, "runtime")
	if err := os.Mkdir(runtime, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtime)
	out, err := cmd.CombinedOutput()
	// verify exits 0 on an unknown key, with a warning: any output
	// is a finding.
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// The units that send opentracker SIGHUP when dist-server rewrites its
// whitelist (README: Mirrors, opentracker).
const (
	whitelistPath    = "opentracker-whitelist.path"
	whitelistService = "opentracker-whitelist.service"
)

// TestOpentrackerWhitelistUnits: opentracker reads its whitelist at start
// and on SIGHUP only, and contrib/ had no unit to send it one when
// dist-server rewrites tracker_whitelist (README said "a systemd .path
// unit on the file does"). The .path unit watches the file README
// suggests and starts the .service, which signals opentracker.service's
// main process with SIGHUP, skipped while opentracker does not run.
func TestOpentrackerWhitelistUnits(t *testing.T) {
	path, service := readUnit(t, whitelistPath), readUnit(t, whitelistService)
	watched := path.settings["PathChanged"]
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(watched) != 1 || !strings.Contains(string(readme), "tracker_whitelist: "+watched[0]) {
		t.Errorf("PathChanged = %q: want the one tracker_whitelist README sets", watched)
	}
	if u := path.settings["Unit"]; !slices.Equal(u, []string{whitelistService}) {
		t.Errorf("Unit = %q, want %s", u, whitelistService)
	}
	for _, name := range []string{whitelistPath, whitelistService} {
		if !strings.Contains(string(readme), "contrib/systemd/"+name) {
			t.Errorf("README does not say how to install contrib/systemd/%s", name)
		}
	}
	execs := service.settings["ExecStart"]
	if len(execs) != 1 || !slices.Equal(strings.Fields(execs[0]), []string{"/usr/bin/systemctl", "kill", "--kill-whom=main", "--signal=HUP", "opentracker.service"}) {
		t.Errorf("ExecStart = %q: want SIGHUP sent to opentracker.service's main process", execs)
	}
	if c := service.settings["ExecCondition"]; len(c) != 1 || !strings.Contains(c[0], "is-active --quiet opentracker.service") {
		t.Errorf("ExecCondition = %q: want the signal skipped while opentracker does not run", c)
	}
	analyzeVerify(t, false, map[string]string{whitelistPath: path.text, whitelistService: service.text})
}

// expandExec splits an ExecStart line into words as systemd does with the
// variables env gives: ${NAME} is one word, $NAME one word per
// whitespace-separated part (systemd.service(5), "Command lines").
func expandExec(t *testing.T, line string, env map[string]string) []string {
	t.Helper()
	var argv []string
	for _, w := range strings.Fields(line) {
		switch {
		case strings.HasPrefix(w, "${") && strings.HasSuffix(w, "}"):
			v, ok := env[w[2:len(w)-1]]
			if !ok {
				t.Fatalf("ExecStart %q: %s is not set by the test's environment file", line, w)
			}
			argv = append(argv, v)
		case strings.HasPrefix(w, "$"):
			v, ok := env[w[1:]]
			if !ok {
				t.Fatalf("ExecStart %q: %s is not set by the test's environment file", line, w)
			}
			argv = append(argv, strings.Fields(v)...)
		default:
			argv = append(argv, w)
		}
	}
	return argv
}

// hardening reports whether a [Service] key is one of the sandboxing
// settings every system unit shares with dist-server.service.
func hardening(key string) bool {
	for _, p := range []string{"NoNewPrivileges", "CapabilityBoundingSet", "AmbientCapabilities", "Protect", "Private", "Restrict",
		"ProcSubset", "LockPersonality", "MemoryDenyWriteExecute", "SystemCall", "UMask"} {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

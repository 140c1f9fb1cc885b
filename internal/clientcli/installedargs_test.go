package clientcli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestInstalledNamesTakeNoVersion: the commands that take names of
// installed packages refuse NAME@VERSION as a usage error (exit 2) that
// says what to write. `uninstall big@1.0.0` with big 1.0.0 installed said
// "uninstall big@1.0.0: not installed" and exit 1 (a newcomer's run); a
// name alone still reaches the command (here: not installed, exit 1).
func TestInstalledNamesTakeNoVersion(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	tests := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"uninstall", "big@1.0.0"}, 2, `dist-client: "big@1.0.0": uninstall takes installed package names without a version: write big`},
		{[]string{"remove", "lib", "big@1.0.0"}, 2, `dist-client: "big@1.0.0": remove takes installed package names without a version: write big`},
		{[]string{"upgrade", "big@2.0.0"}, 2, `write big (it moves to the newest version allowed); dist-client install big@2.0.0 installs that version`},
		{[]string{"files", "big@1.0.0"}, 2, `files takes installed package names without a version: write big`},
		{[]string{"verify", "big@1.0.0"}, 2, `verify takes installed package names without a version: write big`},
		{[]string{"hold", "big@1.0.0"}, 2, `hold takes installed package names without a version: write big`},
		{[]string{"unhold", "big@1.0.0"}, 2, `unhold takes installed package names without a version: write big`},
		{[]string{"mark", "--explicit", "big@1.0.0"}, 2, `mark takes installed package names without a version: write big`},
		{[]string{"uninstall", "big"}, 1, "big: not installed"},
		{[]string{"files", "big"}, 1, "big: not installed"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(context.Background(), tt.args, strings.NewReader(""), &out, &errOut)
			if code != tt.wantCode || !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, errOut.String(), tt.wantCode, tt.want)
			}
		})
	}
}

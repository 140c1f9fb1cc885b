package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestRunUsageHint: a usage error points at the help of the command that
// was called, which has its arguments and examples; an unknown command at
// the root's. Other errors get no usage line.
func TestRunUsageHint(t *testing.T) {
	newRoot := func() *cobra.Command {
		root := &cobra.Command{Use: "prog"}
		trust := &cobra.Command{Use: "trust"}
		trust.AddCommand(&cobra.Command{Use: "set KEY", Args: MinArgs(1, "key"), RunE: func(*cobra.Command, []string) error { return nil }})
		root.AddCommand(trust, &cobra.Command{Use: "mark", RunE: func(*cobra.Command, []string) error { return Usagef("give one of --a and --b") }},
			&cobra.Command{Use: "fail", RunE: func(*cobra.Command, []string) error { return errors.New("it broke") }})
		return root
	}
	for _, tt := range []struct {
		args []string
		code int
		hint string // "" for none
	}{
		{[]string{"mark"}, ExitUsage, "Run 'prog mark --help' for usage."},
		{[]string{"trust", "set"}, ExitUsage, "Run 'prog trust set --help' for usage."},
		{[]string{"mark", "--nosuch"}, ExitUsage, "Run 'prog mark --help' for usage."},
		{[]string{"nosuch"}, ExitUsage, "Run 'prog --help' for usage."},
		{[]string{"fail"}, ExitFailure, ""},
	} {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), "prog", newRoot(), tt.args, Stdio{In: strings.NewReader(""), Out: &out, Err: &errOut})
		if code != tt.code {
			t.Errorf("%q: exit %d, want %d (%s)", tt.args, code, tt.code, errOut.String())
		}
		if got := strings.Contains(errOut.String(), "for usage"); got != (tt.hint != "") || tt.hint != "" && !strings.Contains(errOut.String(), tt.hint) {
			t.Errorf("%q: stderr %q, want the hint %q", tt.args, errOut.String(), tt.hint)
		}
	}
}

// TestStandardLoggerIsDebug: what goes to the standard logger (net/http's
// "Unsolicited response received on idle HTTP channel", when a hostile
// server sends more than it said) is a debug record of the command's
// logger: nothing without -v, a record with it. It was a stray line on
// stderr.
func TestStandardLoggerIsDebug(t *testing.T) {
	defer log.SetOutput(os.Stderr)
	defer log.SetFlags(log.LstdFlags)
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{[]string{"say"}, false},
		{[]string{"-v", "say"}, true},
	} {
		var g Global
		root := &cobra.Command{Use: "prog"}
		var errOut bytes.Buffer
		g.Bind(root, Stdio{In: strings.NewReader(""), Out: io.Discard, Err: &errOut}, "prog.yaml")
		root.AddCommand(&cobra.Command{Use: "say", RunE: func(*cobra.Command, []string) error {
			log.Printf("Unsolicited response received on idle HTTP channel")
			return nil
		}})
		if code := Run(context.Background(), "prog", root, tt.args, Stdio{In: strings.NewReader(""), Out: io.Discard, Err: &errOut}); code != 0 {
			t.Fatalf("%q: exit %d: %s", tt.args, code, errOut.String())
		}
		got := errOut.String()
		if shown := strings.Contains(got, "Unsolicited response"); shown != tt.want || shown && !strings.Contains(got, "level=DEBUG") {
			t.Errorf("%q: stderr %q; want the line shown %v, as a debug record", tt.args, got, tt.want)
		}
	}
}

// TestVersion: --version names the program, the commit (or the module's
// version) and the Go release.
func TestVersion(t *testing.T) {
	var out bytes.Buffer
	root := &cobra.Command{Use: "prog", RunE: func(*cobra.Command, []string) error { return nil }}
	if code := Run(context.Background(), "prog", root, []string{"--version"}, Stdio{In: strings.NewReader(""), Out: &out, Err: io.Discard}); code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	if !strings.HasPrefix(out.String(), "prog ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("--version printed %q", out.String())
	}
	for _, tt := range []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}}, "v1.2.0 go1.26.8"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: "true"}}}, "0123456789ab+dirty go1.26.8"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "(devel) go1.26.8"},
	} {
		if got := versionOf(&tt.bi); got != tt.want {
			t.Errorf("versionOf(%+v) = %q, want %q", tt.bi, got, tt.want)
		}
	}
}

// TestRunJSONError: a command called with --json that fails before it
// prints its JSON prints the error (and the hint) as a JSON object on
// stdout, beside the error line on stderr and with the same exit status;
// install --json and uninstall --json of a package the catalog lacks
// printed nothing on stdout. One that printed its result (with the error
// in it) gets nothing more, and without --json stdout stays empty.
func TestRunJSONError(t *testing.T) {
	newRoot := func(g *Global, stdio Stdio) *cobra.Command {
		root := &cobra.Command{Use: "prog"}
		g.Bind(root, stdio, "prog.yaml")
		var asJSON bool
		fail := &cobra.Command{Use: "fail NAME", Args: MinArgs(1, "name"), RunE: func(*cobra.Command, []string) error {
			return WithHint(errors.New(`cannot install helo: no package named "helo"`), "did you mean hello?")
		}}
		fail.Flags().BoolVar(&asJSON, "json", false, "")
		fail.Flags().String("overwrite", "", "")
		result := &cobra.Command{Use: "result", RunE: func(*cobra.Command, []string) error {
			g.UI.JSON(map[string]string{"error": "its own"})
			return errors.New("its own")
		}}
		result.Flags().BoolVar(&asJSON, "json", false, "")
		root.AddCommand(fail, result)
		return root
	}
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"fail", "--json", "helo"}, ExitFailure, "{\n  \"error\": \"cannot install helo: no package named \\\"helo\\\"\",\n  \"hint\": \"did you mean hello?\"\n}\n"},
		{[]string{"fail", "--json"}, ExitUsage, "{\n  \"error\": \"missing name (prog fail NAME)\"\n}\n"},
		{[]string{"fail", "helo"}, ExitFailure, ""},
		{[]string{"result", "--json"}, ExitFailure, "{\n  \"error\": \"its own\"\n}\n"},
		// A mistaken flag before --json stops the parse there, and --json
		// went unseen: "list --bogus --json" printed no JSON (a newcomer's
		// run), "list --json --bogus" did.
		{[]string{"fail", "--bogus", "--json", "helo"}, ExitUsage, "{\n  \"error\": \"unknown flag: --bogus\"\n}\n"},
		{[]string{"fail", "--bogus", "--json=true", "helo"}, ExitUsage, "{\n  \"error\": \"unknown flag: --bogus\"\n}\n"},
		{[]string{"fail", "--bogus", "--json=false", "helo"}, ExitUsage, ""},
		{[]string{"fail", "--bogus", "--", "--json"}, ExitUsage, ""},
		// Where the flags parsed, --json is what they say: here the
		// value of --overwrite, not a request for JSON.
		{[]string{"fail", "--overwrite", "--json", "helo"}, ExitFailure, ""},
		{[]string{"fail", "--overwrite", "--json"}, ExitUsage, ""},
	} {
		var g Global
		var out, errOut bytes.Buffer
		stdio := Stdio{In: strings.NewReader(""), Out: &out, Err: &errOut}
		code := Run(context.Background(), "prog", newRoot(&g, stdio), tt.args, stdio)
		if code != tt.code {
			t.Errorf("%q: exit %d, want %d (%s)", tt.args, code, tt.code, errOut.String())
		}
		if out.String() != tt.out {
			t.Errorf("%q: stdout %q, want %q", tt.args, out.String(), tt.out)
		}
		if !strings.Contains(errOut.String(), "prog: ") {
			t.Errorf("%q: stderr %q, want the error line", tt.args, errOut.String())
		}
	}
}

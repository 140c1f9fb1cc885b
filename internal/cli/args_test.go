package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestArgs: every command words a missing or an extra argument the same
// way, with its usage line; before, info said "want a package name (1
// argument(s)), got 0" where install said "missing package to install".
func TestArgs(t *testing.T) {
	root := &cobra.Command{Use: "prog"}
	info := &cobra.Command{Use: "info NAME[@VERSION]"}
	install := &cobra.Command{Use: "install PKG..."}
	status := &cobra.Command{Use: "status"}
	root.AddCommand(info, install, status)
	for _, tt := range []struct {
		cmd  *cobra.Command
		args cobra.PositionalArgs
		got  []string
		want string // "" for no error
	}{
		{info, ExactArgs(1, "package name"), nil, "missing package name (prog info NAME[@VERSION])"},
		{info, ExactArgs(1, "package name"), []string{"a"}, ""},
		{info, ExactArgs(1, "package name"), []string{"a", "b", "c"}, `unexpected argument "b" (prog info NAME[@VERSION])`},
		{install, MinArgs(1, "package to install"), nil, "missing package to install (prog install PKG...)"},
		{install, MinArgs(1, "package to install"), []string{"a", "b", "c"}, ""},
		{install, Args(1, 2, "package"), []string{"a", "b", "c"}, `unexpected argument "c" (prog install PKG... takes at most 2)`},
		{status, NoArgs, nil, ""},
		{status, NoArgs, []string{"x", "y"}, `unexpected argument "x" (prog status takes none)`},
	} {
		err := tt.args(tt.cmd, tt.got)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s %q: %v, want no error", tt.cmd.Name(), tt.got, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want):
			t.Errorf("%s %q: %v, want %s", tt.cmd.Name(), tt.got, err, tt.want)
		case err != nil && !errors.As(err, new(*UsageError)):
			t.Errorf("%s %q: %v is not a usage error", tt.cmd.Name(), tt.got, err)
		}
	}
}

// TestGroupCommands: a command that only groups subcommands (trust,
// completion) refuses an unknown subcommand as a usage error (exit 2), with
// a suggestion; cobra printed its help and exited 0.
func TestGroupCommands(t *testing.T) {
	newRoot := func() *cobra.Command {
		root := &cobra.Command{Use: "prog"}
		trust := &cobra.Command{Use: "trust", Short: "trust things"}
		for _, n := range []string{"show", "set", "reset"} {
			trust.AddCommand(&cobra.Command{Use: n, Short: n, RunE: func(*cobra.Command, []string) error { return nil }})
		}
		root.AddCommand(trust, &cobra.Command{Use: "status", RunE: func(*cobra.Command, []string) error { return nil }})
		return root
	}
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string // a line of stderr, "" for none
		stdout string // in stdout
	}{
		{[]string{"trust", "bogus"}, ExitUsage, `prog: unknown command "bogus" for "prog trust"`, ""},
		{[]string{"trust", "shwo"}, ExitUsage, `prog: unknown command "shwo" for "prog trust" (did you mean show?)`, ""},
		{[]string{"trust"}, ExitOK, "", "Available Commands:"},
		{[]string{"trust", "show"}, ExitOK, "", ""},
		{[]string{"completion", "bogus"}, ExitUsage, `prog: unknown command "bogus" for "prog completion"`, ""},
		{[]string{"completion", "bash"}, ExitOK, "", "bash completion"},
	} {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), "prog", newRoot(), tt.args, Stdio{In: strings.NewReader(""), Out: &out, Err: &errOut})
		if code != tt.code {
			t.Errorf("prog %q: exit %d, want %d (stderr %q)", tt.args, code, tt.code, errOut.String())
		}
		if tt.stderr != "" && !strings.Contains(errOut.String(), tt.stderr+"\n") {
			t.Errorf("prog %q: stderr %q, want the line %q", tt.args, errOut.String(), tt.stderr)
		}
		if tt.stderr == "" && errOut.Len() > 0 {
			t.Errorf("prog %q: stderr %q, want none", tt.args, errOut.String())
		}
		if !strings.Contains(out.String(), tt.stdout) {
			t.Errorf("prog %q: stdout %q, want %q in it", tt.args, out.String(), tt.stdout)
		}
	}
}

// TestFlagValues: a flag's bad value is a usage error that says what the
// flag wants, not the parser's words ("strconv.ParseInt: parsing "abc":
// invalid syntax").
func TestFlagValues(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"history", "--last", "abc"}, `prog: --last "abc": want a whole number`},
		{[]string{"history", "-n", "1.5"}, `prog: --last "1.5": want a whole number`},
		{[]string{"history", "-n", "99999999999999999999"}, `prog: --last "99999999999999999999": out of range`},
		{[]string{"history", "--wait", "soon"}, `prog: --wait "soon": want a duration, like 30s, 5m or 1h30m`},
		{[]string{"history", "--json=maybe"}, `prog: --json "maybe": want true or false`},
		{[]string{"history", "--name", ""}, ""},
	} {
		root := &cobra.Command{Use: "prog"}
		history := &cobra.Command{Use: "history", RunE: func(*cobra.Command, []string) error { return nil }}
		history.Flags().IntP("last", "n", 0, "")
		history.Flags().Duration("wait", 0, "")
		history.Flags().Bool("json", false, "")
		history.Flags().String("name", "", "")
		root.AddCommand(history)
		var out, errOut bytes.Buffer
		code := Run(context.Background(), "prog", root, tt.args, Stdio{In: strings.NewReader(""), Out: &out, Err: &errOut})
		if tt.stderr == "" {
			if code != ExitOK {
				t.Errorf("prog %q: exit %d (%s)", tt.args, code, errOut.String())
			}
			continue
		}
		if code != ExitUsage || !strings.Contains(errOut.String(), tt.stderr+"\n") {
			t.Errorf("prog %q: exit %d, stderr %q; want %d and the line %q", tt.args, code, errOut.String(), ExitUsage, tt.stderr)
		}
	}
}

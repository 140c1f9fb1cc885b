package cli

import (
	"bytes"
	"context"
	"errors"
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

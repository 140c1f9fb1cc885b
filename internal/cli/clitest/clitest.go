// Package clitest checks the command trees of dist-client and dist-server
// alike in their tests: both walked their tree with a copy of one loop. It
// is a fixture and never linked into a binary.
package clitest

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Commands returns root and every command below it, children before
// their parent, without cobra's own help and completion commands (not
// ours).
func Commands(root *cobra.Command) []*cobra.Command {
	if root.Name() == "help" || root.Name() == "completion" {
		return nil
	}
	var out []*cobra.Command
	for _, sub := range root.Commands() {
		out = append(out, Commands(sub)...)
	}
	return append(out, root)
}

// CheckExamples fails t for every command of root that a user runs
// (runnable, not hidden) whose --help has no Examples section.
func CheckExamples(t testing.TB, root *cobra.Command) {
	t.Helper()
	for _, c := range Commands(root) {
		if c.Runnable() && !c.Hidden && c.Example == "" {
			t.Errorf("%s --help has no example", c.CommandPath())
		}
	}
}

// MaxHelpLine is the width the commands' long help is wrapped to, so that
// a terminal of 90 columns shows it unbroken; cobra's flag lines are not
// ours.
const MaxHelpLine = 90

// CheckWrapped fails t for every line of a command's long help wider than
// MaxHelpLine.
func CheckWrapped(t testing.TB, root *cobra.Command) {
	t.Helper()
	for _, c := range Commands(root) {
		for i, line := range strings.Split(c.Long, "\n") {
			if n := len([]rune(line)); n > MaxHelpLine {
				t.Errorf("%s --help: line %d is %d characters, over %d: %q", c.CommandPath(), i+1, n, MaxHelpLine, line)
			}
		}
	}
}

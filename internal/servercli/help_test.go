package servercli

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
)

// maxHelpLine is the width the commands' long help is wrapped to, so that a
// terminal of 90 columns shows it unbroken; cobra's flag lines are not ours.
const maxHelpLine = 90

// Every command's long help is wrapped like the rest of it: add's had one
// line of 134 characters in the middle of lines of 85 (a newcomer's run).
func TestHelpIsWrapped(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		for i, line := range strings.Split(c.Long, "\n") {
			if n := len([]rune(line)); n > maxHelpLine {
				t.Errorf("%s --help: line %d is %d characters, over %d: %q", c.CommandPath(), i+1, n, maxHelpLine, line)
			}
		}
	}
	walk(newRoot(cli.Stdio{Out: io.Discard, Err: io.Discard}))
}

// Every command a user runs shows how to run it: key, key rotate, key new,
// status and stop had no Examples section in --help, where every other
// command has one (a newcomer's run). cobra's own help and completion
// commands are not ours.
func TestEveryCommandHasAnExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" {
			return
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.Runnable() && !c.Hidden && c.Example == "" {
			t.Errorf("%s --help has no example", c.CommandPath())
		}
	}
	walk(newRoot(cli.Stdio{Out: io.Discard, Err: io.Discard}))
}

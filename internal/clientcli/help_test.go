package clientcli

import (
	"io"
	"testing"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
)

// Every command a user runs shows how to run it: daemon, status, sync,
// history and trust's show and reset had no Examples section in --help,
// where every other command has one (a newcomer's run). cobra's own help
// and completion commands are not ours.
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

package clientcli

import (
	"io"
	"testing"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/cli/clitest"
)

// Every command a user runs shows how to run it: daemon, status, sync,
// history and trust's show and reset had no Examples section in --help,
// where every other command has one (a newcomer's run).
func TestEveryCommandHasAnExample(t *testing.T) {
	clitest.CheckExamples(t, newRoot(cli.Stdio{Out: io.Discard, Err: io.Discard}))
}

// Every command's long help is wrapped to clitest.MaxHelpLine: install,
// uninstall, history and upgrade had lines of 91-121 characters.
func TestHelpIsWrapped(t *testing.T) {
	clitest.CheckWrapped(t, newRoot(cli.Stdio{Out: io.Discard, Err: io.Discard}))
}

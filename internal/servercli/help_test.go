package servercli

import (
	"io"
	"testing"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/cli/clitest"
)

// Every command's long help is wrapped like the rest of it: add's had one
// line of 134 characters in the middle of lines of 85 (a newcomer's run).
func TestHelpIsWrapped(t *testing.T) {
	clitest.CheckWrapped(t, newRoot(cli.Stdio{Out: io.Discard, Err: io.Discard}))
}

// Every command a user runs shows how to run it: key, key rotate, key new,
// status and stop had no Examples section in --help, where every other
// command has one (a newcomer's run).
func TestEveryCommandHasAnExample(t *testing.T) {
	clitest.CheckExamples(t, newRoot(cli.Stdio{Out: io.Discard, Err: io.Discard}))
}

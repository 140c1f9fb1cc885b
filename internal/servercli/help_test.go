package servercli

import (
	"io"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/cli/clitest"
)

// maxHelpLine is the width the commands' long help is wrapped to, so that a
// terminal of 90 columns shows it unbroken; cobra's flag lines are not ours.
const maxHelpLine = 90

// Every command's long help is wrapped like the rest of it: add's had one
// line of 134 characters in the middle of lines of 85 (a newcomer's run).
func TestHelpIsWrapped(t *testing.T) {
	for _, c := range clitest.Commands(newRoot(cli.Stdio{Out: io.Discard, Err: io.Discard})) {
		for i, line := range strings.Split(c.Long, "\n") {
			if n := len([]rune(line)); n > maxHelpLine {
				t.Errorf("%s --help: line %d is %d characters, over %d: %q", c.CommandPath(), i+1, n, maxHelpLine, line)
			}
		}
	}
}

// Every command a user runs shows how to run it: key, key rotate, key new,
// status and stop had no Examples section in --help, where every other
// command has one (a newcomer's run).
func TestEveryCommandHasAnExample(t *testing.T) {
	clitest.CheckExamples(t, newRoot(cli.Stdio{Out: io.Discard, Err: io.Discard}))
}

package clitest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// recorder is a testing.TB that keeps what Errorf was given.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
}

// tree is a root with a group (not runnable), a command with an example,
// one without, a hidden one without, and cobra's help and completion.
func tree() *cobra.Command {
	run := func(*cobra.Command, []string) {}
	root := &cobra.Command{Use: "tool"}
	group := &cobra.Command{Use: "key"}
	group.AddCommand(&cobra.Command{Use: "show", Run: run, Example: "  tool key show"}, &cobra.Command{Use: "new", Run: run})
	root.AddCommand(group, &cobra.Command{Use: "debug", Run: run, Hidden: true},
		&cobra.Command{Use: "help", Run: run}, &cobra.Command{Use: "completion", Run: run})
	return root
}

func TestCommands(t *testing.T) {
	var got []string
	for _, c := range Commands(tree()) {
		got = append(got, c.CommandPath())
	}
	want := []string{"tool debug", "tool key new", "tool key show", "tool key", "tool"}
	if !slices.Equal(got, want) {
		t.Errorf("Commands = %q, want %q", got, want)
	}
}

func TestCheckExamples(t *testing.T) {
	r := &recorder{TB: t}
	CheckExamples(r, tree())
	want := []string{"tool key new --help has no example"}
	if !slices.Equal(r.errs, want) {
		t.Errorf("CheckExamples said %q, want %q", r.errs, want)
	}
}

func TestCheckWrapped(t *testing.T) {
	wide := strings.Repeat("x", MaxHelpLine+1)
	for _, tt := range []struct {
		name string
		long map[string]string // command path -> its long help
		want []string
	}{
		{"all lines fit", map[string]string{"tool": "Tool does things.\n\n" + strings.Repeat("y", MaxHelpLine), "tool key show": "Shows the key."}, nil},
		{"a wide line in a subcommand", map[string]string{"tool key show": "Shows the key.\n" + wide},
			[]string{fmt.Sprintf("tool key show --help: line 2 is %d characters, over %d: %q", MaxHelpLine+1, MaxHelpLine, wide)}},
		// Characters, not bytes: 90 two-byte runes fit.
		{"runes, not bytes", map[string]string{"tool key": strings.Repeat("é", MaxHelpLine)}, nil},
		{"one line per wide line", map[string]string{"tool": wide + "\nok\n" + wide},
			[]string{fmt.Sprintf("tool --help: line 1 is %d characters, over %d: %q", MaxHelpLine+1, MaxHelpLine, wide),
				fmt.Sprintf("tool --help: line 3 is %d characters, over %d: %q", MaxHelpLine+1, MaxHelpLine, wide)}},
		// cobra's own help and completion are not ours.
		{"cobra's commands are skipped", map[string]string{"tool help": wide, "tool completion": wide}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := tree()
			for _, c := range append(Commands(root), root.Commands()...) {
				c.Long = tt.long[c.CommandPath()]
			}
			r := &recorder{TB: t}
			CheckWrapped(r, root)
			if !slices.Equal(r.errs, tt.want) {
				t.Errorf("CheckWrapped said %q, want %q", r.errs, tt.want)
			}
		})
	}
}

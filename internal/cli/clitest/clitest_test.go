package clitest

import (
	"fmt"
	"slices"
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

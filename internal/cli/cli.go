// Package cli holds what every distpac command line shares: signals to
// context, the one-line error format with hints, exit codes, and the global
// flags (-v, -q, --config).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/ui"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitInterrupted = 130
)

// Stdio are a command's streams.
type Stdio struct {
	In       io.Reader
	Out, Err io.Writer
}

// Global holds the flags every command has.
type Global struct {
	// Verbosity counts -v: 1 for distpac's debug logs, 2 (-vv) for the
	// BitTorrent library's as well.
	Verbosity int
	Quiet     bool
	Config    string
	UI        *ui.Printer
	Logger    *slog.Logger
	// LogLevel is the level Logger was made with.
	LogLevel slog.Level
	logOut   io.Writer
}

// Bind adds the global flags to root and prepares UI and Logger before any
// command runs.
func (g *Global) Bind(root *cobra.Command, stdio Stdio, configName string) {
	root.PersistentFlags().CountVarP(&g.Verbosity, "verbose", "v", "debug logs on stderr (-vv: the BitTorrent library's debug records too)")
	root.PersistentFlags().BoolVarP(&g.Quiet, "quiet", "q", false, "print only errors and requested data")
	root.PersistentFlags().StringVar(&g.Config, "config", "", "config `FILE` (default $XDG_DATA_HOME/distpac/"+configName+")")
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		g.UI = ui.New(stdio.Out, stdio.Err, g.Quiet)
		if o, ok := cmd.Context().Value(outcomeKey{}).(*outcome); ok {
			o.ui = g.UI
		}
		g.UI.In, g.UI.InTTY = stdio.In, ui.IsTerminal(stdio.In)
		g.UI.Verbose = g.Verbosity > 0
		g.logOut = stdio.Err
		g.Logger, g.LogLevel = newLogger(stdio.Err, g.Verbosity, g.Quiet, slog.LevelError)
		// The standard logger is net/http's voice ("Unsolicited response
		// received on idle HTTP channel", when a server sends more than it
		// said): a debug record, not a stray line on stderr.
		log.SetFlags(0)
		log.SetOutput(slog.NewLogLogger(g.Logger.Handler(), slog.LevelDebug).Writer())
	}
}

// LoggerAt is the command's logger with distpac's records shown from level
// up (lower than Logger's, e.g. Info for a foreground server), -v and -q
// still counting; the BitTorrent library's debug records wait for -vv.
func (g *Global) LoggerAt(level slog.Level) *slog.Logger {
	l, _ := newLogger(g.logOut, g.Verbosity, g.Quiet, min(level, g.LogLevel))
	return l
}

// Run executes root with args, turning signals into cancellation and errors
// into "<prog>: <what failed>: <why>" plus an exit code.
//
// SIGHUP (the terminal or the SSH session gone) cancels as Ctrl-C and
// SIGTERM do, unless the command was started with it ignored (nohup
// dist-client daemon), as pacman treats it: it killed the command where it stood,
// its install.sh running on without it and its staging left behind for the
// next command to delete under that script. A closed pipe on stdout or
// stderr (`upgrade | less` quit early, `| head`) no longer kills the
// command either (Go's default for a write to fds 1 and 2): the writes fail
// and are dropped, and the command finishes what it started, its scripts'
// output still in scripts.log. Caught rather than ignored: an ignored
// SIGPIPE would stay ignored in the scripts it runs (exec keeps SIG_IGN),
// whose pipelines count on it.
func Run(ctx context.Context, prog string, root *cobra.Command, args []string, stdio Stdio) int {
	stopOn := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) { // started by nohup: stays so (Notify would undo it)
		stopOn = append(stopOn, syscall.SIGHUP)
	}
	ctx, stop := signal.NotifyContext(ctx, stopOn...)
	defer stop()
	pipes := make(chan os.Signal, 1) // never read: a full channel drops the rest
	signal.Notify(pipes, syscall.SIGPIPE)
	defer signal.Stop(pipes)
	if root.Version == "" {
		root.Version = Version() // --version, as pacman -V and apt --version
		root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	}
	root.SetArgs(args)
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.Err)
	root.SilenceErrors = true
	root.SilenceUsage = true
	o := &outcome{}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		o.badFlags = true
		return &UsageError{Err: flagValueError(err)}
	})
	defer startRecorders(prog, stdio.Err)()
	root.InitDefaultCompletionCmd(args...)
	guardGroups(root)
	cmd, err := root.ExecuteContextC(context.WithValue(ctx, outcomeKey{}, o))
	if err == nil {
		return ExitOK
	}
	if Interrupted(ctx, err) {
		o.printJSONError(cmd, args, stdio.Out, interrupted, "")
		fmt.Fprintf(stdio.Err, "%s: %s\n", prog, interrupted)
		return ExitInterrupted
	}
	if q := (*Quiet)(nil); errors.As(err, &q) {
		return ExitFailure
	}
	var h *Hinted
	errors.As(err, &h)
	o.printJSONError(cmd, args, stdio.Out, err.Error(), h.hint())
	fmt.Fprintf(stdio.Err, "%s: %s\n", prog, err)
	if h.hint() != "" {
		fmt.Fprintf(stdio.Err, "hint: %s\n", h.Hint)
	}
	var u *UsageError
	if errors.As(err, &u) || isCobraUsage(err) {
		// The help of the command that was called ("dist-client mark
		// --help"), which has its arguments and examples; the root's for an
		// unknown command.
		path := prog
		if cmd != nil && cmd != root {
			path = prog + strings.TrimPrefix(cmd.CommandPath(), root.Name())
		}
		fmt.Fprintf(stdio.Err, "Run '%s --help' for usage.\n", path)
		return ExitUsage
	}
	return ExitFailure
}

// interrupted is the whole error line, and --json's "error", of a command
// a signal stopped.
const interrupted = "interrupted"

// Interrupted reports whether err ends a command that a signal stopped:
// Run cancels the command's context (ctx, or one made from it) on Ctrl-C,
// SIGTERM and SIGHUP, and the command returns context.Canceled.
func Interrupted(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, context.Canceled)
}

// ErrorText is what Run's error line says of err after the program's
// name, for a command that put its error in its own --json result
// (install --json): "interrupted" for one a signal stopped, where
// err.Error() is Go's "context canceled" (a newcomer's run).
func ErrorText(ctx context.Context, err error) string {
	if Interrupted(ctx, err) {
		return interrupted
	}
	return err.Error()
}

// outcome is what Run learns of the command it ran: the printer the
// global flags made for it (nil when it failed before it ran, on its
// arguments), and whether its flags failed to parse (badFlags).
type outcome struct {
	ui       *ui.Printer
	badFlags bool
}

type outcomeKey struct{}

// printJSONError prints, for a command called with --json that failed
// before it printed any JSON, {"error": ..., "hint": ...} on stdout: a
// script reading --json got an empty stdout from install, uninstall or
// info of a package the catalog lacks, a lock held or a resolution that
// failed (a newcomer's run). A command that printed its result with the
// error in it (install --json after its plan) is left alone. stderr still
// gets the error line and the exit status stays the same.
func (o *outcome) printJSONError(cmd *cobra.Command, args []string, out io.Writer, msg, hint string) {
	if cmd == nil || o.ui != nil && o.ui.WroteJSON() || !jsonAsked(cmd, args, o.badFlags) {
		return
	}
	v := struct {
		Error string `json:"error"`
		Hint  string `json:"hint,omitempty"`
	}{msg, hint}
	if o.ui != nil {
		o.ui.JSON(v)
		return
	}
	ui.New(out, io.Discard, false).JSON(v)
}

// jsonAsked reports whether cmd was called with --json: its flag as
// parsed or, when the parse stopped at a mistaken flag (badFlags) before
// it ("list --bogus --json" printed no JSON, a newcomer's run), the word
// on the command line, before any "--". Where the flags parsed, the
// parse is right: in "install --overwrite --json x", --json is a glob.
func jsonAsked(cmd *cobra.Command, args []string, badFlags bool) bool {
	f := cmd.Flags().Lookup("json")
	if f == nil {
		return false
	}
	if f.Changed || !badFlags {
		return f.Value.String() == "true"
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--json" {
			return true
		}
		if v, ok := strings.CutPrefix(a, "--json="); ok {
			b, err := strconv.ParseBool(v)
			return err == nil && b
		}
	}
	return false
}

// guardGroups gives every command that only groups subcommands (trust,
// completion) a run of its own: cobra prints such a command's help and
// succeeds whatever follows it, so `dist-client trust bogus` exited 0 where
// every other mistyped command is a usage error (exit 2). Alone, a group
// still prints its help and succeeds, as docker's do.
func guardGroups(c *cobra.Command) {
	for _, sub := range c.Commands() {
		guardGroups(sub)
	}
	if c.Runnable() || !c.HasSubCommands() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default, set only for the root
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, ", "))
		}
		return Usagef("%s", msg)
	}
}

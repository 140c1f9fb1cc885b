package cli

// The errors a command returns that Run treats apart: a usage mistake
// (exit status 2), a quiet failure, an error with a hint under it, and the
// parsers' own flag and argument errors said in distpac's words.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// UsageError marks a mistake in how a command was called (exit status 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef makes a UsageError.
func Usagef(format string, a ...any) error { return &UsageError{Err: fmt.Errorf(format, a...)} }

// Quiet marks a result that is not an error to print, only an exit
// status of 1: search under -q finding nothing, as grep -q says nothing.
type Quiet struct{ Err error }

func (e *Quiet) Error() string { return e.Err.Error() }
func (e *Quiet) Unwrap() error { return e.Err }

// Hinted carries advice printed under the error line.
type Hinted struct {
	Err  error
	Hint string
}

func (e *Hinted) Error() string { return e.Err.Error() }
func (e *Hinted) Unwrap() error { return e.Err }

// WithHint attaches a hint to err.
func WithHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &Hinted{Err: err, Hint: hint}
}

// hint is h's hint, "" for a nil h.
func (h *Hinted) hint() string {
	if h == nil {
		return ""
	}
	return h.Hint
}

// flagValueError says what a flag of a kind wants instead of the parser's
// words: `--last abc` read `invalid argument "abc" for "-n, --last" flag:
// strconv.ParseInt: parsing "abc": invalid syntax` (a newcomer's run).
func flagValueError(err error) error {
	var bad *pflag.InvalidValueError
	if !errors.As(err, &bad) {
		return err
	}
	want := ""
	switch bad.GetFlag().Value.Type() {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "count":
		want = "want a whole number"
		if errors.Is(err, strconv.ErrRange) {
			want = "out of range"
		}
	case "duration":
		want = "want a duration, like 30s, 5m or 1h30m"
	case "bool":
		want = "want true or false"
	default:
		return err
	}
	return fmt.Errorf("--%s %q: %s", bad.GetFlag().Name, bad.GetValue(), want)
}

// isCobraUsage recognises cobra's own argument errors, which it does not type.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "unknown flag", "unknown shorthand", "flag needs an argument", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

package ui

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// ErrNotConfirmed: the user answered no (or nothing).
var ErrNotConfirmed = errors.New("not confirmed")

// ErrNoTerminal: a confirmation was needed but there is no terminal to ask
// on; the caller's hint names its --yes flag.
var ErrNoTerminal = errors.New("needs a confirmation, and standard input is not a terminal")

// Confirm asks question (ending in "[y/N] ") on out when in is a terminal,
// and returns nil for "y" or "yes", ErrNotConfirmed for anything else, and
// ErrNoTerminal when in is not a terminal: a script must say --yes, never
// have its silence or piped input taken for a yes.
func Confirm(in io.Reader, out io.Writer, question string) error {
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return ErrNoTerminal
	}
	fmt.Fprintf(out, "%s [y/N] ", question)
	line, err := bufio.NewReader(io.LimitReader(in, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return ErrNotConfirmed
}

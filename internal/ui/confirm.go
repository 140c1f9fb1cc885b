package ui

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNoTerminal: a question needs an answer and there is no terminal to ask
// on. Callers turn it into "run it again with --yes".
var ErrNoTerminal = errors.New("standard input is not a terminal")

// maxAnswer bounds how much of an answer line is read: "yes" fits many
// times over, a pasted file does not get buffered.
const maxAnswer = 256

// Confirm asks question on stderr (stdout may carry --json) and reads one
// line from In: "y" or "yes" in any case is yes, anything else, an empty
// line or the end of input is no, as with apt and pacman's [y/N]. Without a
// terminal on In it asks nothing and returns ErrNoTerminal.
func (p *Printer) Confirm(question string) (bool, error) {
	if !p.InTTY || p.In == nil {
		return false, ErrNoTerminal
	}
	p.mu.Lock()
	fmt.Fprintf(p.Err, "%s [y/N] ", question)
	p.mu.Unlock()
	line, err := bufio.NewReaderSize(io.LimitReader(p.In, maxAnswer), maxAnswer).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read answer: %w", err)
	}
	if err != nil {
		// No newline: Ctrl-D, or a line cut at maxAnswer. End the
		// prompt's line so the next message starts on its own.
		p.mu.Lock()
		fmt.Fprintln(p.Err)
		p.mu.Unlock()
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

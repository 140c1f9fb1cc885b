package ui

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Untrusted is text that another process or a server wrote (a daemon's
// answer on its socket, a peer's or a web seed's words) as a message may
// show it: as it is when it holds only what a terminal prints, as honest
// text does (it is not escaped twice); quoted as strconv.Quote writes it
// when it holds a control character (an escape sequence that clears the
// screen or recolours it, a carriage return that writes over the line
// before), one of Unicode's bidirectional controls (unsafeRune) or bytes
// that are not UTF-8, so that the user sees them, escaped, and the
// terminal does not act on them. Of a string longer than limit bytes it
// keeps the first limit (cut between runes, before quoting) and says how
// long it was: "BBBB…(5017 bytes)". A fake daemon of the same user (or a
// buggy one) printed its text raw and whole: escape sequences, and a
// 5,000-byte error line.
func Untrusted(s string, limit int) string {
	cut := ""
	if len(s) > limit {
		n := max(limit, 0)
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s, cut = s[:n], fmt.Sprintf("…(%d bytes)", len(s))
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unsafeRune) {
		s = strconv.Quote(s)
	}
	return s + cut
}

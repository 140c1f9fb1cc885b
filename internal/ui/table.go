package ui

import (
	"bytes"
	"strings"
	"text/tabwriter"
	"unicode"
)

// Table prints rows under a header with aligned columns, as data (shown
// even with -q). Cells are made one line: a tab or newline in a package's
// description would otherwise break the columns or forge a row.
//
// A row whose last cells are empty ends at its last text: tabwriter pads
// every cell to its column, and list --installed's lines without a NOTE
// ended in spaces (a newcomer's run).
func (p *Printer) Table(header []string, rows [][]string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	writeRow(tw, header)
	for _, r := range rows {
		writeRow(tw, r)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	out := make([]byte, 0, buf.Len())
	for line := range bytes.Lines(buf.Bytes()) {
		out = append(out, bytes.TrimRight(line, " \n")...)
		out = append(out, '\n')
	}
	_, err := p.Out.Write(out)
	return err
}

// Fields prints one record, given as {key, value} pairs, as "Key : value"
// lines with the colons aligned (dist-client info), as data.
func (p *Printer) Fields(fields [][2]string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	tw := tabwriter.NewWriter(p.Out, 0, 4, 1, ' ', 0)
	for _, f := range fields {
		tw.Write([]byte(oneLine(f[0]) + "\t: " + oneLine(f[1]) + "\n"))
	}
	return tw.Flush()
}

func writeRow(tw *tabwriter.Writer, cells []string) {
	var b strings.Builder
	for i, c := range cells {
		if i > 0 {
			b.WriteByte('\t')
		}
		b.WriteString(oneLine(c))
	}
	b.WriteByte('\n')
	tw.Write([]byte(b.String()))
}

// oneLine turns tabs, newlines, any other control character and Unicode's
// bidirectional controls (overrides, isolates, marks) into a space, so
// one cell stays one cell on one line, no escape sequence reaches the
// terminal, and no text is shown in another order than it is stored ("safe
// tool U+202E gnp.exe" shows as "safe tool exe.png" on a terminal that
// applies them: an attacker's run; dist-server add refuses them, a row
// written otherwise may hold them).
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unsafeRune(r) {
			return ' '
		}
		return r
	}, s)
}

func unsafeRune(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }

package ui

import (
	"strings"
	"text/tabwriter"
	"unicode"
)

// Table prints rows under a header with aligned columns, as data (shown
// even with -q). Cells are made one line: a tab or newline in a package's
// description would otherwise break the columns or forge a row.
func (p *Printer) Table(header []string, rows [][]string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	tw := tabwriter.NewWriter(p.Out, 0, 4, 2, ' ', 0)
	writeRow(tw, header)
	for _, r := range rows {
		writeRow(tw, r)
	}
	return tw.Flush()
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

// oneLine turns tabs, newlines and any other control character into a space,
// so one cell stays one cell on one line and no escape sequence reaches the
// terminal.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

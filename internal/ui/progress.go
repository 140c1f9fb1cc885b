package ui

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/distpac/distpac/internal/units"
)

// The bar's bytes, rate and time left are distpac's, in binary units as
// everywhere, not the progress bar library's: it printed SI units (MB/s
// beside the summary's MiB/s), and it counted the bytes of the first
// report as transferred at once, so a resumed download whose first report
// held 13.9 MiB verified earlier showed "70 GB/s" (a newcomer's run). The
// rate here is over the last rateWindow of reports, from the first report
// on, and is shown once rateMinSpan of them is in.
const (
	rateWindow  = 3 * time.Second
	rateMinSpan = 500 * time.Millisecond
	rateEvery   = 250 * time.Millisecond // between the samples kept
	// redrawEvery is how often the bar is drawn again.
	redrawEvery = 100 * time.Millisecond
	// barWidth is the bar's width where the terminal has room for it,
	// and barMinWidth the narrowest worth drawing: below it the line
	// is the text and the percent alone.
	barWidth    = 30
	barMinWidth = 10
	// defaultColumns is the width assumed of a terminal that does not
	// say.
	defaultColumns = 80
)

// Progress tracks a transfer of total bytes. The bar is drawn here, one
// write a report, not by a progress bar library: the library drew every
// report twice (the new text with the percent before, then again with
// the new percent), and a line wider than the terminal wraps, so that
// the carriage return of the next draw went back to its second row only:
// on a terminal of 50 columns every report left two lines behind, a
// screen of them for one download (a newcomer's run). A line is cut to
// the terminal's width instead (the bar first, then the text).
type Progress struct {
	p     *Printer
	what  string
	total int64
	rate  rateMeter
	drawn time.Time // when Set last drew the bar
	on    bool      // the bar is shown (a terminal, not quiet)
	width int       // columns the line drawn holds, 0 when cleared; guarded by p.mu
}

// NewProgress starts a progress display: a bar on a terminal, nothing
// otherwise (the summary line is printed by Done).
func (p *Printer) NewProgress(total int64, what string) *Progress {
	pr := &Progress{p: p, what: what, total: total, on: p.DrawsProgress()}
	if pr.on {
		p.setBar(pr)
	}
	return pr
}

// Set reports bytes done so far.
func (pr *Progress) Set(done int64) {
	if !pr.on {
		return
	}
	// Through the daemon, done is another process's number: a negative
	// one made the bar's fill negative, and strings.Repeat panicked.
	done = max(done, 0)
	now := time.Now()
	pr.rate.add(now, done)
	if done >= pr.total {
		pr.end() // the summary line follows
		return
	}
	if now.Sub(pr.drawn) < redrawEvery {
		return
	}
	pr.drawn = now
	pr.p.mu.Lock()
	defer pr.p.mu.Unlock()
	if pr.p.bar != pr {
		return // ended
	}
	cols := pr.p.columns()
	line := pr.line(done, cols)
	w := utf8.RuneCountInString(line)
	// One write: the line, and blanks over what is left of a wider one,
	// within the terminal's width now: on a terminal made narrower, blanks
	// past it wrapped, and every report left a row behind again.
	fmt.Fprintf(pr.p.Out, "\r%s%s", line, strings.Repeat(" ", max(min(pr.width, cols-1)-w, 0)))
	pr.width = min(max(pr.width, w), cols-1)
}

// line is the bar's line for done bytes, at most cols-1 columns wide (a
// line that fills the last column wraps on some terminals).
func (pr *Progress) line(done int64, cols int) string {
	text := pr.describe(done)
	pct := 100
	if pr.total > 0 {
		pct = int(min(done, pr.total) * 100 / pr.total)
	}
	room := cols - 1
	percent := fmt.Sprintf(" %3d%%", pct)
	// text, percent, " |", the bar, "|"
	bar := min(barWidth, room-utf8.RuneCountInString(text)-len(percent)-3)
	if bar < barMinWidth {
		// The percent stays; the text gives way, from its end.
		if room <= len(percent) {
			return cut(strings.TrimLeft(percent, " "), room)
		}
		return cut(text, room-len(percent)) + percent
	}
	fill := bar * pct / 100
	return text + percent + " |" + strings.Repeat("█", fill) + strings.Repeat(" ", bar-fill) + "|"
}

// cut is s in at most n columns (s is one column a rune).
func cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// clearLocked blanks the bar's line and puts the cursor at its start, for
// the line printed next; the bar is drawn again on its next report. The
// caller holds p.mu.
func (pr *Progress) clearLocked() {
	if pr.width > 0 {
		// Within the terminal's width now, as Set's blanks.
		fmt.Fprintf(pr.p.Out, "\r%s\r", strings.Repeat(" ", min(pr.width, pr.p.columns()-1)))
		pr.width = 0
	}
}

// end clears the bar for good.
func (pr *Progress) end() {
	pr.p.mu.Lock()
	defer pr.p.mu.Unlock()
	if pr.p.bar == pr {
		pr.clearLocked()
		pr.p.bar = nil
	}
}

// describe is the bar's text: what, the bytes, and once known the rate and
// the time left.
func (pr *Progress) describe(done int64) string {
	s := fmt.Sprintf("%s  %s/%s", pr.what, units.FormatBytes(done), units.FormatBytes(pr.total))
	if r := pr.rate.perSecond(); r > 0 {
		s += ", " + units.FormatRate(r)
		// A day at most: a trickle would overflow a Duration.
		// Rounded, not cut to whole seconds first: 0.9 s showed "0s left".
		if secs := float64(pr.total-done) / r; secs > 0 && secs < 86400 {
			s += fmt.Sprintf(", %s left", time.Duration(secs*float64(time.Second)).Round(time.Second))
		}
	}
	return s
}

// Done ends the display; the caller prints the summary.
func (pr *Progress) Done() {
	if pr.on {
		pr.end()
	}
}

// Abort ends the display of a transfer that failed or was interrupted,
// leaving the line clean for the error that follows.
func (pr *Progress) Abort() {
	if pr.on {
		pr.end()
	}
}

// terminalColumns is the width of the terminal w is, 0 when it is none or
// does not say.
func terminalColumns(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return cols
}

// rateMeter is a transfer's rate over its last rateWindow of reports: the
// first report is where it starts, whatever it already held.
type rateMeter struct {
	samples []rateSample // oldest first, rateEvery apart but for the last
}

type rateSample struct {
	at   time.Time
	done int64
}

func (m *rateMeter) add(at time.Time, done int64) {
	n := len(m.samples)
	if n >= 2 && at.Sub(m.samples[n-2].at) < rateEvery {
		m.samples[n-1] = rateSample{at, done} // the latest replaces a recent one
	} else {
		m.samples = append(m.samples, rateSample{at, done})
	}
	for len(m.samples) > 2 && at.Sub(m.samples[1].at) >= rateWindow {
		m.samples = m.samples[1:]
	}
}

// perSecond is the rate in bytes a second, 0 before rateMinSpan of reports.
func (m *rateMeter) perSecond() float64 {
	if len(m.samples) < 2 {
		return 0
	}
	first, last := m.samples[0], m.samples[len(m.samples)-1]
	span := last.at.Sub(first.at)
	if span < rateMinSpan || last.done < first.done {
		return 0
	}
	return float64(last.done-first.done) / span.Seconds()
}

package ui

import (
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"

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
	// redrawEvery is how often the bar is drawn again. The throttle is
	// here, not the library's: its throttle held back the draw of the
	// new count that came right after the draw of the new text, so the
	// percent and the bar showed the report before the text's ("2.9
	// MiB/2.9 MiB ... 97%", a newcomer's run).
	redrawEvery = 100 * time.Millisecond
)

// Progress tracks a transfer of total bytes.
type Progress struct {
	bar   *progressbar.ProgressBar
	p     *Printer
	what  string
	total int64
	rate  rateMeter
	drawn time.Time // when Set last drew the bar
}

// NewProgress starts a progress display: a bar on a terminal, nothing
// otherwise (the summary line is printed by Done).
func (p *Printer) NewProgress(total int64, what string) *Progress {
	pr := &Progress{p: p, what: what, total: total}
	if p.DrawsProgress() {
		pr.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(p.Out),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowBytes(false),
			progressbar.OptionSetElapsedTime(false),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetWidth(30),
			progressbar.OptionClearOnFinish(),
		)
		p.setBar(pr.bar)
	}
	return pr
}

// Set reports bytes done so far.
func (pr *Progress) Set(done int64) {
	if pr.bar == nil {
		return
	}
	now := time.Now()
	pr.rate.add(now, done)
	if now.Sub(pr.drawn) < redrawEvery && done < pr.total {
		return
	}
	pr.drawn = now
	if done >= pr.total {
		pr.bar.Set64(done) // finishes the bar, which clears it
		return
	}
	// Describe draws the new text with the count before; Set64 then
	// draws both new when the percent changed (unchanged, the first draw
	// showed it already).
	pr.bar.Describe(pr.describe(done))
	pr.bar.Set64(done)
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
	if pr.bar != nil {
		pr.bar.Finish()
		pr.p.setBar(nil)
	}
}

// Abort ends the display of a transfer that failed or was interrupted,
// leaving the line clean for the error that follows.
func (pr *Progress) Abort() {
	if pr.bar != nil {
		pr.bar.Clear()
		pr.p.setBar(nil)
	}
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

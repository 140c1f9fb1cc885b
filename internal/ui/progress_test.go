package ui

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

// The rate is the growth over the last reports, whatever the first report
// held: a resumed download whose first report had 13.9 MiB verified
// earlier showed 70 GB/s; none before half a second of reports.
func TestRateMeter(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	const mib = 1 << 20
	steady := func(first int64, perSecond float64, every time.Duration, until time.Duration) []rateSample {
		var out []rateSample
		for d := time.Duration(0); d <= until; d += every {
			out = append(out, rateSample{t0.Add(d), first + int64(perSecond*d.Seconds())})
		}
		return out
	}
	for _, tt := range []struct {
		name    string
		reports []rateSample
		want    float64 // bytes a second; 0: none shown
	}{
		{"no report", nil, 0},
		{"one report", []rateSample{{t0, 14 * mib}}, 0},
		{"a resume's first report is not a rate", steady(14*mib, 2*mib, 10*time.Millisecond, 400*time.Millisecond), 0},
		{"then the growth after it", steady(14*mib, 2*mib, 10*time.Millisecond, 2*time.Second), 2 * mib},
		{"over the last seconds only", append(steady(0, 10*mib, 100*time.Millisecond, 5*time.Second),
			steady(50*mib, 1*mib, 100*time.Millisecond, 10*time.Second)[51:]...), 1 * mib},
		{"no progress", steady(5*mib, 0, 100*time.Millisecond, 3*time.Second), 0},
	} {
		var m rateMeter
		for _, r := range tt.reports {
			m.add(r.at, r.done)
		}
		if got := m.perSecond(); math.Abs(got-tt.want) > tt.want/50+1 {
			t.Errorf("%s: %.0f B/s; want %.0f", tt.name, got, tt.want)
		}
		if len(m.samples) > 2*int(rateWindow/rateEvery)+2 { // bounded, whatever the report rate
			t.Errorf("%s: %d samples kept", tt.name, len(m.samples))
		}
	}
}

// The bar speaks binary units, with distpac's own rate and time left.
func TestProgressDescribes(t *testing.T) {
	var out bytes.Buffer
	pr := (&Printer{Out: &out}).NewProgress(32<<20, "1 package")
	pr.rate.add(time.Unix(0, 0), 14<<20)
	pr.rate.add(time.Unix(2, 0), 18<<20)
	got := pr.describe(18 << 20)
	if want := "1 package  18.0 MiB/32.0 MiB, 2.0 MiB/s, 7s left"; got != want {
		t.Errorf("describe = %q; want %q", got, want)
	}
	if strings.Contains(got, "MB") {
		t.Errorf("SI units in %q", got)
	}
}

// The time left is rounded: 0.75 s left showed "0s left" (cut to whole
// seconds before rounding).
func TestProgressTimeLeftRounds(t *testing.T) {
	pr := (&Printer{Out: &bytes.Buffer{}}).NewProgress(32<<20, "1 package")
	pr.rate.add(time.Unix(0, 0), 26<<20)
	pr.rate.add(time.Unix(2, 0), 30<<20+512<<10) // 2.25 MiB/s, 1.5 MiB left
	if got, want := pr.describe(30<<20+512<<10), "1 package  30.5 MiB/32.0 MiB, 2.2 MiB/s, 1s left"; got != want {
		t.Errorf("describe = %q; want %q", got, want)
	}
}

// The bar drawn last shows the percent of the bytes its text shows: the
// percent was that of the report before ("2.9 MiB/2.9 MiB ... 97%", "50.9
// KiB/2.9 MiB 0%": a newcomer's run), as the library's throttle held back
// the draw of the new count that came right after the draw of the text.
func TestProgressPercentMatchesText(t *testing.T) {
	var out bytes.Buffer
	pr := (&Printer{Out: &out, TTY: true}).NewProgress(100<<10, "1 package")
	pr.Set(50 << 10)
	frames := strings.Split(out.String(), "\r")
	var last string
	for _, f := range frames {
		if strings.Contains(f, "1 package") {
			last = f
		}
	}
	if !strings.Contains(last, "50.0 KiB/100.0 KiB") || !strings.Contains(last, "50%") {
		t.Errorf("last frame drawn %q; want 50.0 KiB/100.0 KiB and 50%%", last)
	}
}

// Each report draws the bar once: the library drew it twice, the new text
// with the percent of the report before ("1.7 MiB/19.1 MiB   0%"), then
// again with the new percent (a newcomer's run under script(1)).
func TestProgressDrawsOncePerReport(t *testing.T) {
	var out bytes.Buffer
	pr := (&Printer{Out: &out, TTY: true}).NewProgress(100<<10, "1 package")
	for i, done := range []int64{10 << 10, 50 << 10, 90 << 10} {
		out.Reset()
		pr.drawn = time.Time{} // past the redraw throttle
		pr.Set(done)
		var frames []string
		for _, f := range strings.Split(out.String(), "\r") {
			if strings.Contains(f, "1 package") {
				frames = append(frames, f)
			}
		}
		if len(frames) != 1 {
			t.Errorf("report %d drew %d frames: %q; want 1", i, len(frames), frames)
		}
	}
}

// screen is what a terminal of cols columns shows after b: a carriage
// return goes back to the start of the row the cursor is on, a line that
// reaches the last column goes on on the next row. It returns the rows
// that hold anything but blanks.
func screen(b []byte, cols int) []string {
	var rows [][]rune
	row, col := 0, 0
	put := func(r rune) {
		for len(rows) <= row {
			rows = append(rows, nil)
		}
		for len(rows[row]) <= col {
			rows[row] = append(rows[row], ' ')
		}
		rows[row][col] = r
	}
	for _, r := range string(b) {
		switch r {
		case '\r':
			col = 0
		case '\n':
			row, col = row+1, 0
		default:
			if col == cols {
				row, col = row+1, 0
			}
			put(r)
			col++
		}
	}
	var shown []string
	for _, r := range rows {
		if s := strings.TrimRight(string(r), " "); s != "" {
			shown = append(shown, s)
		}
	}
	return shown
}

func TestScreen(t *testing.T) {
	for _, tt := range []struct {
		in   string
		cols int
		want []string
	}{
		{"abc\rx", 10, []string{"xbc"}},
		{"abcdef\rx", 4, []string{"abcd", "xf"}},
		{"ab\ncd", 10, []string{"ab", "cd"}},
		{"abcd\r    \r", 10, nil},
	} {
		if got := screen([]byte(tt.in), tt.cols); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("screen(%q, %d) = %q; want %q", tt.in, tt.cols, got, tt.want)
		}
	}
}

// The line fits the terminal, so that every draw goes back over the one
// before: the bar narrows, then goes, then the text is cut.
func TestProgressFitsTerminal(t *testing.T) {
	for _, cols := range []int{120, 80, 60, 50, 30, 12} {
		var out bytes.Buffer
		p := &Printer{Out: &out, TTY: true, Columns: cols}
		pr := p.NewProgress(19<<20+100<<10, "12 packages")
		pr.rate.add(time.Unix(0, 0), 0)
		for i := int64(1); i <= 5; i++ {
			pr.rate.add(time.Unix(i, 0), i<<20)
			pr.drawn = time.Time{}
			pr.Set(i << 20)
		}
		got := screen(out.Bytes(), cols)
		if len(got) != 1 {
			t.Errorf("%d columns: the screen shows %d rows: %q; want the bar's one", cols, len(got), got)
			continue
		}
		if w := len([]rune(got[0])); w >= cols {
			t.Errorf("%d columns: a line of %d: %q", cols, w, got[0])
		}
		if cols >= 80 && !strings.Contains(got[0], "|") {
			t.Errorf("%d columns: no bar in %q", cols, got[0])
		}
		p.Printf("downloaded\n")
		if got := screen(out.Bytes(), cols); len(got) != 1 || got[0] != "downloaded" {
			t.Errorf("%d columns: after a line the screen shows %q; want only that line", cols, got)
		}
	}
}

// Where the line has no room for the bar, the text is cut and the percent
// stays.
func TestProgressLineKeepsPercent(t *testing.T) {
	pr := (&Printer{Out: &bytes.Buffer{}}).NewProgress(100<<20, "1 package")
	for _, tt := range []struct {
		cols int
		want string
	}{
		{120, "1 package  60.0 MiB/100.0 MiB  60% |██████████████████            |"},
		{50, "1 package  60.0 MiB/100.0 MiB  60% |███████     |"},
		{30, "1 package  60.0 MiB/100.  60%"},
		{4, "60%"},
	} {
		if got := pr.line(60<<20, tt.cols); got != tt.want {
			t.Errorf("%d columns: %q; want %q", tt.cols, got, tt.want)
		}
	}
}

// A count outside 0..total draws a bar, not a panic: the count of a
// download through the daemon is another process's number (daemon.Event's
// bytes), and a negative one made the bar's fill negative, which
// strings.Repeat refuses with a panic that ended the install.
func TestProgressCountOutOfRange(t *testing.T) {
	for _, done := range []int64{-1, -100 << 10, -1 << 62, 1 << 62} {
		var out bytes.Buffer
		pr := (&Printer{Out: &out, TTY: true, Columns: 80}).NewProgress(100<<10, "1 package")
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Set(%d) panicked: %v", done, r)
				}
			}()
			pr.Set(done)
		}()
		if got := screen(out.Bytes(), 80); len(got) > 1 {
			t.Errorf("Set(%d): the screen shows %q", done, got)
		}
	}
}

// A terminal made narrower while the bar is drawn keeps one row of it: the
// blanks written over the rest of the wider line before went past the new
// width and wrapped, so every report left a row behind again, and the line
// printed after the bar went one row below it.
func TestProgressTerminalNarrows(t *testing.T) {
	var out bytes.Buffer
	p := &Printer{Out: &out, TTY: true, Columns: 100}
	pr := p.NewProgress(19<<20+100<<10, "12 packages")
	pr.rate.add(time.Unix(0, 0), 0)
	pr.rate.add(time.Unix(1, 0), 1<<20)
	pr.Set(1 << 20)
	out.Reset() // the terminal is 40 columns from here; the cursor at the start of a row
	p.Columns = 40
	for i := int64(2); i <= 5; i++ {
		pr.rate.add(time.Unix(i, 0), i<<20)
		pr.drawn = time.Time{}
		pr.Set(i << 20)
	}
	if got := screen(out.Bytes(), 40); len(got) != 1 {
		t.Errorf("after the terminal narrowed, the screen shows %d rows: %q; want the bar's one", len(got), got)
	}
	p.Printf("downloaded\n")
	if got := screen(out.Bytes(), 40); len(got) != 1 || got[0] != "downloaded" {
		t.Errorf("after a line the screen shows %q; want only that line", got)
	}
}

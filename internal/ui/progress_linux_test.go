package ui

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// On a real terminal of 50 columns (a split pane), a download's bar stays
// on one row: its line, wider than the terminal, wrapped, and every report
// left two rows behind (a newcomer's run in tmux). The width comes from the
// terminal itself here, as it does for a user.
func TestProgressOnNarrowTerminal(t *testing.T) {
	const cols = 50
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer m.Close()
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: cols}); err != nil {
		t.Fatalf("set the terminal's size: %v", err)
	}
	read := make(chan []byte)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, m) // until the slave is closed
		read <- b.Bytes()
	}()

	p := &Printer{Out: s, TTY: true}
	pr := p.NewProgress(19<<20+100<<10, "1 package")
	// Two seconds of reports before: the text has a rate and a time left,
	// "1 package  5.0 MiB/19.1 MiB, 2.5 MiB/s, 6s left", as in a download.
	pr.rate.add(time.Now().Add(-2*time.Second), 0)
	for i := int64(1); i <= 5; i++ {
		pr.drawn = time.Time{}
		pr.Set(i << 20)
	}
	s.Close()
	var out []byte
	select {
	case out = <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal's output did not end")
	}
	if got := screen(out, cols); len(got) != 1 {
		t.Errorf("a %d-column terminal shows %d rows after 5 reports:\n%s\nwant the bar's one", cols, len(got), strings.Join(got, "\n"))
	}
}

package server

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/paths"
)

// TestReloadFailureLoggedOnce: a running server whose polls fail (its
// catalog.db replaced while signing.key is away: nothing can be signed)
// logged "catalog reload failed" at every poll, twice a second. The
// first failure is logged and the next ones are counted
// (distpac_errors_total{component="reload"}), not logged, until
// resignLogEvery has passed; the poll that works again says so, with the
// number of failed polls.
func TestReloadFailureLoggedOnce(t *testing.T) {
	a := runAlpha(t, Options{}, nil)
	info, primary, logs := a.info, a.primary, a.logs
	s1 := statusOf(t, info).Serial
	restore := failReloads(t, primary)
	waitFor(t, "10 failed reloads", func() bool { return errorsTotal(t, info, "reload") >= 10 })
	if n := logs.count("catalog reload failed; serving the previous one"); n != 1 {
		t.Errorf("10 failed reloads logged %d times, want once", n)
	}
	restore()
	waitFor(t, "a serial above the first", func() bool { return statusOf(t, info).Serial > s1 })
	waitFor(t, "the line saying reloads work again", func() bool { return logs.count("catalog reloads again") == 1 })
	for _, l := range logs.lines(0, 0) {
		if strings.Contains(l, "catalog reloads again") && !regexp.MustCompile(`failed_attempts=(1\d|[2-9]\d|\d{3,})`).MatchString(l) {
			t.Errorf("the line saying reloads work again: %s\nwant failed_attempts of 10 or more", l)
		}
	}
	a.stop()
}

// failReloads makes every poll of the server of primary fail: its
// catalog.db replaced (a package deleted) while signing.key is away, so
// that nothing can be signed; restore puts the key back.
func failReloads(t *testing.T, primary paths.Server) (restore func()) {
	t.Helper()
	away := primary.SigningKey() + ".away"
	if err := os.Rename(primary.SigningKey(), away); err != nil {
		t.Fatal(err)
	}
	moveInto(t, primary.Catalog(), primary.Catalog(), `DELETE FROM copy.packages`)
	return func() {
		t.Helper()
		if err := os.Rename(away, primary.SigningKey()); err != nil {
			t.Fatal(err)
		}
	}
}

// errorsTotal is distpac_errors_total{component} on the /metrics of the
// server of info.
func errorsTotal(t *testing.T, info Info, component string) int {
	t.Helper()
	_, b := fetch(t, info.Database+"/metrics")
	m := regexp.MustCompile(`(?m)^distpac_errors_total\{component="` + regexp.QuoteMeta(component) + `"\} (\d+)$`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

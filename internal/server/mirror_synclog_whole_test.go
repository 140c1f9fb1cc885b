package server

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalogclient"
)

// A failed sync of several primaries that names none of them (their keys
// disagree on first use) was logged as a primary's, `primary=""`, and,
// as no primary is "", never recovered: the same failure after syncs that
// succeeded was a reminder "still fails since" the first, as if it had
// failed all along.
func TestMirrorSyncWideFailureLogged(t *testing.T) {
	rec := &logRecorder{}
	log := slog.New(rec)
	var f primaryFailures
	at := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	whole := []catalogclient.ServerError{{Err: errors.New("sync: the servers listed present different keys")}}
	steps := []struct {
		failed   []catalogclient.ServerError
		answered []string
		want     string // the warning logged, "" for none
	}{
		{whole, nil, "WARN sync from the primaries failed err="},
		{whole, nil, ""},
		{nil, []string{"http://a"}, ""},
		{whole, nil, "WARN sync from the primaries failed err="}, // failed anew: in full
	}
	for i, s := range steps {
		from := rec.len()
		f.note(log, at.Add(time.Duration(i)*time.Minute), s.failed, s.answered)
		got := rec.lines(from, slog.LevelWarn)
		switch {
		case s.want == "" && len(got) > 0:
			t.Errorf("step %d: logged %q, want nothing", i, got)
		case s.want != "" && (len(got) != 1 || !strings.HasPrefix(got[0], s.want)):
			t.Errorf("step %d: logged %q, want one %q", i, got, s.want)
		}
		for _, l := range got {
			if strings.Contains(l, `primary=`) {
				t.Errorf("step %d: %q names a primary; the failure is no one primary's", i, l)
			}
		}
	}
}

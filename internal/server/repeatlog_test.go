package server

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRepeatedFailure: a run of failures one a poll is logged at its
// first failure, then at most once every `every`, each line saying how
// many were not logged since the one before; its end says how many
// failed in all, and a failure after it starts a new run.
func TestRepeatedFailure(t *testing.T) {
	const every = 10 * time.Minute
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	type event struct {
		at  time.Duration // since start
		end bool          // the run ends (a re-signing succeeded); else a failure
	}
	polls := func(from, to, step time.Duration) []event {
		var out []event
		for at := from; at < to; at += step {
			out = append(out, event{at: at})
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		events []event
		want   []string // each line logged: its attributes
	}{
		{"one failure", []event{{at: 0}}, []string{"first"}},
		{"an hour of polls 0.5 s apart", polls(0, time.Hour, 500*time.Millisecond), []string{
			"first", "suppressed=1199", "suppressed=1199", "suppressed=1199", "suppressed=1199", "suppressed=1199"}},
		{"a run that ends, then another", append(append(polls(0, 11*time.Minute, time.Minute), event{at: 11 * time.Minute, end: true}), event{at: 12 * time.Minute}),
			[]string{"first", "suppressed=9", "ended failed_attempts=11", "first"}},
		{"an end with no run", []event{{end: true}, {at: time.Second}}, []string{"first"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := repeatedFailure{every: every}
			var got []string
			for _, e := range tt.events {
				if e.end {
					if attrs := f.ended(); attrs != nil {
						got = append(got, "ended "+fmt.Sprintf("%s=%v", attrs[0], attrs[1]))
					}
					continue
				}
				logIt, attrs := f.failed(start.Add(e.at))
				switch {
				case !logIt:
				case attrs == nil:
					got = append(got, "first")
				default:
					got = append(got, fmt.Sprintf("%s=%v", attrs[0], attrs[1]))
				}
			}
			if strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("logged %q, want %q", got, tt.want)
			}
		})
	}
}

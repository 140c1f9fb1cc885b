package swarm

// How an engine's announces fare, by tracker, over all its torrents: what
// dist-server status shows of a seeder that announces to an external
// tracker (opentracker), whose refusals were only WARN lines in the log.

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/redact"
	"github.com/distpac/distpac/internal/trackerclient"
)

// TrackerHealth is how the announces of an engine's torrents to one
// tracker fare.
type TrackerHealth struct {
	URL string `json:"url"`
	// Torrents is how many torrents the tracker took or refused an
	// announce of; Failing, how many of those it refused or did not
	// answer the last time.
	Torrents int `json:"torrents"`
	Failing  int `json:"failing"`
	// Since is when the oldest of those failing runs began, Failures how
	// many announces failed in them, Reason the latest failure's reason
	// and At when that was.
	Since    time.Time `json:"since,omitzero"`
	Failures int       `json:"failures,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at,omitzero"`
	// Refused: the tracker answered, with a failure reason (it is up, and
	// will not serve these torrents); otherwise it did not answer.
	Refused bool `json:"refused"`
}

// MaxTrackerHealth bounds TrackerHealth's list: torrents name at most 8
// trackers each, but a mirror's catalog may name many more over all of
// them; the failing ones come first.
const MaxTrackerHealth = 16

// TrackerHealth sums, for each tracker the engine announces to, what the
// last announce of each torrent there gave; nil when the engine does not
// announce (a publisher registered in its embedded tracker).
func (e *Engine) TrackerHealth() []TrackerHealth {
	if e.ann == nil {
		return nil
	}
	return e.ann.health()
}

func (a *announcer) health() []TrackerHealth {
	a.mu.Lock()
	jobs := make([]*announceJob, 0, len(a.jobs))
	for _, j := range a.jobs {
		jobs = append(jobs, j)
	}
	a.mu.Unlock()
	byURL := map[string]*TrackerHealth{}
	for _, j := range jobs {
		j.mu.Lock()
		for _, st := range j.status {
			u := st.URL
			h := byURL[u]
			if h == nil {
				h = &TrackerHealth{URL: redact.URL(u)}
				byURL[u] = h
			}
			h.Torrents++
			if st.Err == nil {
				continue
			}
			h.Failing++
			h.Failures += st.Failures
			if h.Since.IsZero() || st.FailingSince.Before(h.Since) {
				h.Since = st.FailingSince
			}
			if st.At.After(h.At) {
				h.At = st.At
				h.Reason, h.Refused = failureReason(u, st.Err)
			}
		}
		j.mu.Unlock()
	}
	out := make([]TrackerHealth, 0, len(byURL))
	for _, h := range byURL {
		out = append(out, *h)
	}
	slices.SortFunc(out, func(x, y TrackerHealth) int {
		return cmp.Or(cmp.Compare(y.Failing, x.Failing), strings.Compare(x.URL, y.URL))
	})
	return out[:min(len(out), MaxTrackerHealth)]
}

// failureReason is why an announce to u failed, without the "tracker
// URL: " its error starts with; refused when the tracker said why.
func failureReason(u string, err error) (reason string, refused bool) {
	var f *trackerclient.FailureError
	if errors.As(err, &f) {
		return f.Reason, true
	}
	return strings.TrimPrefix(err.Error(), "tracker "+redact.URL(u)+": "), false
}

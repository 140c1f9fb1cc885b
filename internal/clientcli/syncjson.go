package clientcli

import (
	"errors"
	"time"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/redact"
)

// syncJSON is what sync --json prints. Every key is there, the lists
// empty when there is nothing to list, but for pinned_key.
type syncJSON struct {
	Updated  bool   `json:"updated"`
	Serial   int64  `json:"serial"`
	Packages int    `json:"packages"`
	Server   string `json:"server"`               // the server the catalog came from (or that said it was unchanged); "" when every server that answered is behind the catalog held, which is kept
	Pinned   string `json:"pinned_key,omitempty"` // set when this sync pinned the key (trust on first use)
	// The servers that gave a valid catalog older than the one held: not
	// taken, and not failed.
	Behind []syncBehind `json:"behind"`
	// The servers tried before the one the catalog came from (or, with
	// none taken, before the catalog held was kept) that failed, in the
	// order tried: the warnings of the text output, which --json lacked
	// (a newcomer's run: a server down read as all well).
	Failed []syncFailed `json:"failed"`
	// The servers listed before Server that this sync did not try, since
	// they failed a sync within the last ten minutes: the text output's
	// note, which --json lacked (a newcomer's run: the primary down a
	// minute ago read as all well, "failed" empty).
	PassedOver []syncPassedOver `json:"passed_over"`
}

// syncPassedOver is a server passed over untried, as sync --json gives it.
type syncPassedOver struct {
	Server   string    `json:"server"`
	FailedAt time.Time `json:"failed_at"` // when it failed a sync
	Until    time.Time `json:"until"`     // from then on it is tried first again
}

// syncBehind is a server behind the catalog held, as sync --json gives it.
type syncBehind struct {
	Server     string    `json:"server"`
	Serial     int64     `json:"serial"`      // the serial it serves
	ValidUntil time.Time `json:"valid_until"` // that catalog's
	Stale      bool      `json:"stale"`       // that catalog had expired as well
	Note       string    `json:"note"`        // the warning line
}

// syncFailed is a server that failed a sync another server served, as
// sync --json gives it.
type syncFailed struct {
	Server string `json:"server"`
	Error  string `json:"error"` // why, as the warning says it after the URL and the time
}

// newSyncJSON is sync --json's answer for res.
func newSyncJSON(res catalogclient.Result) syncJSON {
	v := syncJSON{
		Updated: res.Updated, Serial: res.Serial, Packages: res.Packages, Server: res.Server,
		Behind: make([]syncBehind, len(res.Behind)), Failed: make([]syncFailed, len(res.Failed)),
		PassedOver: make([]syncPassedOver, len(res.Demoted)),
	}
	if res.Pinned != nil {
		v.Pinned = res.Pinned.String()
	}
	for i, b := range res.Behind {
		v.Behind[i] = syncBehind{b.URL, b.Serial, b.ValidUntil, b.Stale, b.Note()}
	}
	for i, f := range res.Failed {
		v.Failed[i] = syncFailed{f.URL, f.Reason()}
	}
	for i, d := range res.Demoted {
		v.PassedOver[i] = syncPassedOver{d.URL, d.Failed.UTC(), d.Until.UTC()}
	}
	return v
}

// syncFailedJSON is what sync --json prints when no server gave a
// catalog: cli.Run's {"error", "hint"} with the lists of syncJSON, so
// that a script finds each server and why it failed where it finds them
// when one server served (they were only in the error's lines).
type syncFailedJSON struct {
	Error      string           `json:"error"`
	Hint       string           `json:"hint,omitempty"`
	Behind     []syncBehind     `json:"behind"`
	Failed     []syncFailed     `json:"failed"`
	PassedOver []syncPassedOver `json:"passed_over"`
	// Keys: on first use, the servers whose keys disagree and the key
	// each presents (catalogclient.KeysDisagreeError), the key that was to
	// be pinned first; absent otherwise.
	Keys []syncKey `json:"keys,omitempty"`
}

// syncKey is a key a server presented on first use.
type syncKey struct {
	Server      string `json:"server"`
	Key         string `json:"key"`
	Fingerprint string `json:"fingerprint"`
}

// newSyncFailedJSON is sync --json's answer for a sync of servers (the
// ones it tried: client.yaml's, or --from's) that ended in err, with its
// hint. A server behind the catalog held and one passed over untried are
// no failure, so a sync that fails has none: every server tried failed.
// Of several servers, err is a ServersError naming each; of one, it is
// that server's.
func newSyncFailedJSON(err error, servers []string) syncFailedJSON {
	v := syncFailedJSON{Error: err.Error(), Behind: []syncBehind{}, Failed: []syncFailed{}, PassedOver: []syncPassedOver{}}
	var h *cli.Hinted
	if errors.As(err, &h) {
		v.Hint = h.Hint
	}
	var kd *catalogclient.KeysDisagreeError
	if errors.As(err, &kd) {
		v.Keys = append(v.Keys, syncKey{kd.Server, kd.Key.String(), kd.Key.Fingerprint()})
		for _, o := range kd.Others {
			v.Keys = append(v.Keys, syncKey{o.Server, o.Key.String(), o.Key.Fingerprint()})
		}
		return v // no server failed: they answered, with keys that differ
	}
	var se catalogclient.ServersError
	switch {
	case errors.As(err, &se):
		for _, f := range se {
			v.Failed = append(v.Failed, syncFailed{f.URL, f.Reason()})
		}
	case len(servers) == 1:
		f := catalogclient.ServerError{URL: redact.URL(servers[0]), Err: err}
		v.Failed = append(v.Failed, syncFailed{f.URL, f.Reason()})
	}
	return v
}

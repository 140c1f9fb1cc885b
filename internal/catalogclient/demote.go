package catalogclient

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/redact"
)

// A server that failed a sync is tried after the others for demoteFor:
// with server_urls listing one that hangs, every sync waited its 5 s
// again before the one that answers (a newcomer's run). It is still tried,
// last, so one that is back is found; one that answers is forgotten.
const (
	demoteFor   = 10 * time.Minute
	failedFile  = "servers.json"
	maxFailFile = 64 << 10
)

// failures is servers.json: when each server last failed a sync, by its
// URL masked (redact.URL), as ServerError and Result name it: the file
// is world-readable. Two entries of server_urls that differ only in
// their password are one server here, which only orders them.
type failures struct {
	Failed map[string]time.Time `json:"failed"`
	// Behind: when each server last gave a catalog older than the one
	// held (a Behind). Ordered as a failure, so that a mirror that lags
	// costs its download once in demoteFor, but not a failed server that
	// a sync passed over (PassedOver): a catalog taken from another
	// server is not behind that one, and `sync --from` it would not help.
	Behind map[string]time.Time `json:"behind,omitempty"`
}

// readFailures reads dir's servers.json; none, or one that does not read,
// is no failures (it only orders the servers).
func readFailures(dir string) failures {
	f := failures{Failed: map[string]time.Time{}}
	b, err := fsutil.ReadRegular(filepath.Join(dir, failedFile), maxFailFile, true)
	if err != nil || json.Unmarshal(b, &f) != nil || f.Failed == nil {
		return failures{Failed: map[string]time.Time{}, Behind: map[string]time.Time{}}
	}
	if f.Behind == nil {
		f.Behind = map[string]time.Time{}
	}
	return f
}

// forgetFailures removes dir's servers.json, for a client of one server,
// which it orders nothing for: left from a list of several, it kept
// servers no longer listed, and (written by a version that kept them)
// their passwords, in a world-readable file (a review).
func forgetFailures(dir string) {
	os.Remove(filepath.Join(dir, failedFile)) // best effort, as writing it
}

// OrderServers is servers in the order a sync in dir would try them now:
// those that failed a sync within the last ten minutes (servers.json)
// after the others. Installs try the servers' web seeds in this order:
// in config order, a refused, a black-holed and a hanging server before
// the mirror that answered cost each install 11.6 s before its first
// byte, although the sync just before had found them down (an attacker's
// run).
func OrderServers(dir string, servers []string) []string {
	if dir == "" || len(servers) < 2 {
		return servers
	}
	return readFailures(dir).order(servers, time.Now())
}

// order is servers with those that failed within demoteFor of now after
// the others, each group in its given order.
func (f failures) order(servers []string, now time.Time) []string {
	recent := func(u string) bool {
		for _, m := range []map[string]time.Time{f.Failed, f.Behind} {
			if at, ok := m[redact.URL(u)]; ok && now.Sub(at) < demoteFor && !at.After(now) {
				return true
			}
		}
		return false
	}
	out := slices.DeleteFunc(slices.Clone(servers), recent)
	for _, u := range servers {
		if recent(u) {
			out = append(out, u)
		}
	}
	return out
}

// Demoted is a server listed before the one a sync took its catalog
// from, passed over untried because it failed a sync at Failed: it is
// tried first again at Until. A primary back up after its mirror served
// a sync stays behind that mirror that long, the mirror's older catalog
// "up to date" meanwhile (a newcomer's run): the caller says so.
type Demoted struct {
	URL           string // masked (redact.URL)
	Failed, Until time.Time
}

// PassedOver is, for the catalog in dir that a sync took from took,
// the servers of servers listed before it that it passed over untried,
// as of now: what the sync said in its note, for the commands that later
// tell a user to sync (a sync before Until takes took's catalog again).
func PassedOver(dir string, servers []string, took string, now time.Time) []Demoted {
	if dir == "" || took == "" || len(servers) < 2 {
		return nil
	}
	return readFailures(dir).passedOver(servers, took, now)
}

// passedOver is the servers listed before took that failed within
// demoteFor of now (so were tried after it, and took answered first).
// took and the URLs of the result are masked (redact.URL).
func (f failures) passedOver(servers []string, took string, now time.Time) []Demoted {
	var out []Demoted
	for _, u := range redact.URLs(servers) {
		if u == took {
			break
		}
		if at, ok := f.Failed[u]; ok && now.Sub(at) < demoteFor && !at.After(now) {
			out = append(out, Demoted{URL: u, Failed: at, Until: at.Add(demoteFor)})
		}
	}
	return out
}

// record notes the servers that failed this sync and those behind it,
// forgets the one that answered (ok, "" for none; masked as failed's
// URLs are) and those no longer configured (keys a version that kept
// passwords wrote among them), and writes servers.json when that changed
// anything. Best effort: it only orders.
func (f failures) record(dir string, servers []string, failed ServersError, behind []Behind, ok string, now time.Time) {
	servers = redact.URLs(servers)
	if f.Behind == nil {
		f.Behind = map[string]time.Time{}
	}
	changed := false
	for _, m := range []map[string]time.Time{f.Failed, f.Behind} {
		for u := range m {
			if u == ok || !slices.Contains(servers, u) {
				delete(m, u)
				changed = true
			}
		}
	}
	for _, e := range failed {
		if e.URL != ok { // set aside as slow, then it answered
			f.Failed[e.URL] = now.UTC().Truncate(time.Second)
			changed = true
		}
	}
	for _, b := range behind {
		delete(f.Failed, b.URL) // it answered
		f.Behind[b.URL] = now.UTC().Truncate(time.Second)
		changed = true
	}
	if !changed {
		return
	}
	if b, err := json.Marshal(f); err == nil {
		fsutil.WriteFileAtomic(filepath.Join(dir, failedFile), append(b, '\n'), 0o644)
	}
}

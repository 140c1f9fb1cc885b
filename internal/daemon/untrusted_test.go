package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/swarm"
)

// hostileText is what a fake daemon writes to the user's terminal through
// the client: it clears the screen, recolours it, goes back to the start
// of the line and rings the bell, in a line of 10,000 bytes.
var hostileText = "\x1b[2J\x1b[31mPWNED\x1b[0m\r\a" + strings.Repeat("B", 10000)

// fillStrings sets every settable string of v (through structs, pointers
// and slices, which it makes) to s: every field a daemon's answer can
// carry text in, the ones added after this test included. Maps are left
// alone (Prefix: archives the client only looks up).
func fillStrings(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Pointer:
		if v.Type().Elem().Kind() == reflect.Struct {
			v.Set(reflect.New(v.Type().Elem()))
			fillStrings(v.Elem(), s)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range v.Len() {
			fillStrings(v.Index(i), s)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				fillStrings(v.Field(i), s)
			}
		}
	}
}

// checkStrings reports every string of v (as fillStrings walks it) that
// holds a control character or is longer than limit bytes (the escapes
// of a quoted string come on top of what ui.Untrusted kept).
func checkStrings(t *testing.T, path string, v reflect.Value, limit int) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); strings.ContainsAny(s, "\x1b\r\a") || len(s) > limit {
			t.Errorf("%s = %.60q… (%d bytes): want it escaped and at most %d bytes", path, s, len(s), limit)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			checkStrings(t, path, v.Elem(), limit)
		}
	case reflect.Slice:
		for i := range v.Len() {
			checkStrings(t, path+"[]", v.Index(i), limit)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				checkStrings(t, path+"."+v.Type().Field(i).Name, v.Field(i), limit)
			}
		}
	}
}

// TestDaemonTextMadeSafe: every string the client takes from a daemon's
// events, its error and its status reaches the caller escaped and bounded
// (ui.Untrusted), whatever answers on the socket; the install printed
// them raw and whole (warnings of busy web seeds, a stall's sources, the
// transfer report's hosts, the error).
func TestDaemonTextMadeSafe(t *testing.T) {
	var ev, st = Event{Total: 1}, Status{PID: 1}
	fillStrings(reflect.ValueOf(&ev).Elem(), hostileText)
	fillStrings(reflect.ValueOf(&st).Elem(), hostileText)
	ev.Error = ""
	errEv := Event{Error: hostileText}
	// The first event has every field; the second fails the download.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { json.NewEncoder(w).Encode(st) })
	mux.HandleFunc("POST /download", func(w http.ResponseWriter, _ *http.Request) {
		enc := json.NewEncoder(w)
		enc.Encode(ev)
		enc.Encode(errEv)
	})
	sock, _ := serveFake(t, mux, nil)
	c := Dial(context.Background(), sock)
	if c == nil {
		t.Fatal("no daemon found at the socket")
	}
	var got []Event
	err := c.Download(context.Background(), Request{Items: []Item{{Name: "a", Version: "1"}}}, 0, func(e Event) { got = append(got, e) })
	if len(got) != 2 {
		t.Fatalf("%d events, want 2 (%v)", len(got), err)
	}
	checkStrings(t, "Event", reflect.ValueOf(got[0]), maxShownField+100)
	checkStrings(t, "Event", reflect.ValueOf(got[1]), maxShownError+100)
	if err == nil || strings.ContainsAny(err.Error(), "\x1b\r\a") || len(err.Error()) > maxShownError+100 ||
		!strings.HasPrefix(err.Error(), `daemon: "\x1b[2J\x1b[31mPWNED\x1b[0m\r\aBBB`) || !strings.HasSuffix(err.Error(), `BBB"…(10020 bytes)`) {
		t.Errorf("Download: %.200q…, want the daemon's error quoted and cut", err)
	}
	status, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkStrings(t, "Status", reflect.ValueOf(status), maxShownField+100)
	if status.Listen != `"\x1b[2J\x1b[31mPWNED\x1b[0m\r\a`+strings.Repeat("B", maxShownField-20)+`"…(10020 bytes)` {
		t.Errorf("Status.Listen = %.80q…, want it quoted and cut at %d bytes", status.Listen, maxShownField)
	}

	// A refusal's body, and its status line.
	c, _ = dialFake(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "bad request: "+hostileText, http.StatusBadRequest)
	}, nil)
	err = c.Download(context.Background(), Request{Items: []Item{{Name: "a", Version: "1"}}}, 0, nil)
	if err == nil || strings.ContainsAny(err.Error(), "\x1b\r\a") || !strings.HasPrefix(err.Error(), `daemon: "bad request: \x1b[2J`) {
		t.Errorf("Download refused: %.200q…, want the daemon's words quoted", err)
	}
}

// TestHonestDaemonTextUnchanged: what a daemon says honestly passes as it
// is, not escaped twice: quotes, a URL, text it escaped itself.
func TestHonestDaemonTextUnchanged(t *testing.T) {
	honest := `download a-1.tar.zst: no source: web seed http://h/packages/a-1.tar.zst: HTTP 401 Unauthorized; tracker refused: "\x1b[2J"`
	c, _ := dialFake(t, func(w http.ResponseWriter, _ *http.Request) { json.NewEncoder(w).Encode(Event{Error: honest}) }, nil)
	err := c.Download(context.Background(), Request{Items: []Item{{Name: "a", Version: "1"}}}, 0, nil)
	want := strings.Replace(honest, ": ", " (through the daemon): ", 1)
	if err == nil || err.Error() != want {
		t.Errorf("Download: %v, want %s", err, want)
	}
}

// TestDaemonDownloadFailure: a download the daemon says failed reads as
// the download's failure, through the daemon ("daemon: download X: ..."
// read as the daemon's own), and one whose every source refused the
// connection matches swarm.ErrUnreachable, as the engine's error does
// without a daemon, for the install's hint (is dist-server running?).
func TestDaemonDownloadFailure(t *testing.T) {
	const why = "download a-1.tar.zst: no source for a-1.tar.zst in 8s: tracker http://t/announce: dial tcp 127.0.0.1:6969: connect: connection refused"
	for _, tc := range []struct {
		ev          Event
		want        string
		unreachable bool
	}{
		{Event{Error: why, Unreachable: true}, "download a-1.tar.zst (through the daemon): no source for a-1.tar.zst in 8s: tracker ", true},
		{Event{Error: why}, "download a-1.tar.zst (through the daemon): no source for ", false},
		{Event{Error: "no room left on the cache's disk"}, "daemon: no room left on the cache's disk", false},
	} {
		c, _ := dialFake(t, func(w http.ResponseWriter, _ *http.Request) { json.NewEncoder(w).Encode(tc.ev) }, nil)
		err := c.Download(context.Background(), Request{Items: []Item{{Name: "a", Version: "1"}}}, 0, nil)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Download of %+v: %v, want %q first", tc.ev, err, tc.want)
		}
		if got := errors.Is(err, swarm.ErrUnreachable); got != tc.unreachable {
			t.Errorf("Download of %+v: errors.Is(ErrUnreachable) = %v, want %v", tc.ev, got, tc.unreachable)
		}
	}
}

// TestDaemonNumbersBounded: a report's numbers from the daemon reach the
// caller within what a download can be: negative ones as 0, huge ones at
// the bounds, so that sums over thousands of archives cannot overflow
// into negative sizes and rates; honest ones unchanged.
func TestDaemonNumbersBounded(t *testing.T) {
	hostile := swarm.Transfer{Total: -1, FromSeeder: math.MaxInt64, FromPeers: -5, Peers: -1, FromWebSeed: math.MaxInt64,
		AlreadyHad: math.MinInt64, Wasted: math.MaxInt64, HashFailures: math.MaxInt32, FirstByte: -time.Second, Elapsed: math.MaxInt64}
	honest := swarm.Transfer{Total: 1 << 30, FromSeeder: 1 << 29, FromPeers: 1 << 29, Peers: 31, Elapsed: 9 * time.Second, FirstByte: time.Millisecond}
	bounded := swarm.Transfer{FromSeeder: maxShownBytes, FromWebSeed: maxShownBytes, Wasted: maxShownBytes, HashFailures: maxShownCount, Elapsed: maxShownTime}
	c, _ := dialFake(t, func(w http.ResponseWriter, _ *http.Request) {
		enc := json.NewEncoder(w)
		enc.Encode(Event{Completed: &Report{Archive: "a", Transfer: hostile}})
		enc.Encode(Event{Error: "failed", Stopped: []Report{{Archive: "b", Transfer: hostile}, {Archive: "c", Transfer: honest}}})
	}, nil)
	var got []Event
	c.Download(context.Background(), Request{Items: []Item{{Name: "a", Version: "1"}}}, 0, func(e Event) { got = append(got, e) })
	if len(got) != 2 || got[0].Completed == nil || len(got[1].Stopped) != 2 {
		t.Fatalf("events %+v, want a completed one and a failed one with two stopped", got)
	}
	for i, tc := range []struct {
		got, want swarm.Transfer
	}{{got[0].Completed.Transfer, bounded}, {got[1].Stopped[0].Transfer, bounded}, {got[1].Stopped[1].Transfer, honest}} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("report %d: %+v, want %+v", i, tc.got, tc.want)
		}
	}
}

// TestDaemonBadProgress: a daemon whose events count bytes a download
// cannot have (negative, past the total, past 1 PiB), endlessly, fails the
// download at its first such event, saying what it sent; its sources'
// numbers (which the stall watchdog counts) are bounded as a report's.
// A fake daemon's events of -5 and 2^62 bytes held an install for its
// stall timeout, which then said "only 4.0 EiB received in 5s … under
// 1.0 KiB/s".
func TestDaemonBadProgress(t *testing.T) {
	for _, tc := range []struct {
		bytes, total int64
		want         string
	}{
		{-5, 215, "daemon: bad event: -5 bytes downloaded of 215"},
		{1 << 62, 215, "daemon: bad event: 4611686018427387904 bytes downloaded of 215"},
		{1 << 62, 1 << 62, "daemon: bad event: 4611686018427387904 bytes downloaded of 4611686018427387904"},
		{0, -1, "daemon: bad event: 0 bytes downloaded of -1"},
	} {
		c, _ := dialFake(t, func(w http.ResponseWriter, r *http.Request) {
			enc := json.NewEncoder(w)
			for r.Context().Err() == nil {
				if enc.Encode(Event{Bytes: tc.bytes, Total: tc.total}) != nil {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		events := 0
		err := c.Download(ctx, Request{Items: []Item{{Name: "a", Version: "1"}}}, 0, func(Event) { events++ })
		cancel()
		if err == nil || err.Error() != tc.want || events != 0 {
			t.Errorf("download with events of %d bytes of %d: %v after %d events, want %q at once", tc.bytes, tc.total, err, events, tc.want)
		}
	}
	hostile := swarm.Sources{Peers: -1, FromPeers: math.MaxInt64, WebSeeds: []swarm.SeedActivity{{Seed: "s", Asked: -1, Sent: math.MaxInt64, Again: -5}}}
	c, _ := dialFake(t, func(w http.ResponseWriter, _ *http.Request) {
		enc := json.NewEncoder(w)
		enc.Encode(Event{Total: 10, Peers: -3, Sources: &hostile})
		enc.Encode(Event{Bytes: 10, Total: 10, Finished: true})
	}, nil)
	var got []Event
	if err := c.Download(context.Background(), Request{Items: []Item{{Name: "a", Version: "1"}}}, 0, func(e Event) { got = append(got, e) }); err != nil {
		t.Fatal(err)
	}
	want := swarm.Sources{FromPeers: maxShownBytes, WebSeeds: []swarm.SeedActivity{{Seed: "s", Sent: maxShownBytes}}}
	if len(got) != 2 || got[0].Peers != 0 || !reflect.DeepEqual(*got[0].Sources, want) {
		t.Errorf("first event %+v (sources %+v), want 0 peers and sources %+v", got[0], got[0].Sources, want)
	}
}

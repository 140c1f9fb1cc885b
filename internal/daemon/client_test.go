package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/httpbound"
	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/swarm"
)

// fakeDaemon serves status and download answers made by the test on a unix
// socket, for the client's side of the protocol. A status asked for with
// items=0 leaves the torrents out, as serve does.
func fakeDaemon(t *testing.T, status func() Status, finished func() Event) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st := status()
		if r.URL.Query().Get("items") == "0" {
			st.Items = nil
		}
		json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("POST /download", func(w http.ResponseWriter, _ *http.Request) { json.NewEncoder(w).Encode(finished()) })
	sock, _ := serveFake(t, mux, nil)
	return sock
}

// serveFake serves mux on a unix socket of the test's, with the server's
// other fields set by set (may be nil) first, until the test ends.
func serveFake(t *testing.T, mux *http.ServeMux, set func(*http.Server)) (string, *http.Server) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)}
	if set != nil {
		set(srv)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock, srv
}

// dialFake serves, on a unix socket of the test's, a daemon whose status
// says pid 1 and whose download is download (nil: none); set (may be
// nil) sets the server's other fields before it serves. It returns the
// client Dial made and the server, closed when the test ends.
func dialFake(t *testing.T, download http.HandlerFunc, set func(*http.Server)) (*Client, *http.Server) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { json.NewEncoder(w).Encode(Status{PID: 1}) })
	if download != nil {
		mux.HandleFunc("POST /download", download)
	}
	sock, srv := serveFake(t, mux, set)
	c := Dial(context.Background(), sock)
	if c == nil {
		t.Fatal("no daemon found at the socket")
	}
	return c, srv
}

func reports(n int, archive string) []Report {
	rs := make([]Report, n)
	for i := range rs {
		rs[i] = Report{Archive: fmt.Sprintf("%s-%d-1.0.0.tar.zst", archive, i), InfoHash: fmt.Sprintf("%040x", i),
			Transfer: swarm.Transfer{Total: 1 << 40, FromSeeder: 1 << 40, FromPeers: 1 << 40, Peers: 1000, FromWebSeed: 1 << 40,
				AlreadyHad: 1 << 40, Wasted: 1 << 40, HashFailures: 1000, FirstByte: time.Hour, Elapsed: time.Hour}}
	}
	return rs
}

// The finished event of a download carries a report per archive: for the
// most archives a request may name, with names as long as a catalog allows,
// it is a line of megabytes, which the client reads (it failed from about
// 220 archives with "token too long", after every download had finished);
// a longer line is an error that says so.
func TestDownloadOfManyArchivesFinishes(t *testing.T) {
	long := strings.Repeat("n", 128) + "-" + strings.Repeat("1", 100)
	for _, tc := range []struct {
		name    string
		reports []Report
		wantErr string
	}{
		{"300 archives", reports(300, "package"), ""},
		{"the most a request names", reports(maxItems, long), ""},
		{"over the bound", reports(maxEventBytes/400, long), "an event line over"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := fakeDaemon(t, func() Status { return Status{PID: 1} }, func() Event {
				return Event{Finished: true, Reports: tc.reports}
			})
			c := Dial(context.Background(), sock)
			if c == nil {
				t.Fatal("no daemon found at the socket")
			}
			err := c.Download(context.Background(), Request{Items: []Item{{Name: "a", Version: "1"}}}, 0, nil)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Download: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Download: %v; want an error with %q", err, tc.wantErr)
			}
		})
	}
}

// A daemon whose status lists thousands of torrents is still found: before,
// Dial read the whole list within 1 MiB and took a daemon seeding about
// 4,000 archives for none, so installs started engines of their own. Dial
// asks for the status without the list (items=0), which the daemon answers
// at once; Status reads the whole list. (The fake daemon once ignored
// items=0, and on a loaded CI machine under the race detector encoding and
// decoding 20,000 items outlasted Dial's 2 s.)
func TestDialFindsDaemonOfManyTorrents(t *testing.T) {
	items := make([]swarm.TorrentStatus, 20000)
	for i := range items {
		items[i] = swarm.TorrentStatus{InfoHash: fmt.Sprintf("%040x", i), Name: fmt.Sprintf("package-%d-1.0.0.tar.zst", i), State: "seeding", Size: 12345}
	}
	sock := fakeDaemon(t, func() Status { return Status{PID: 1, Torrents: len(items), Items: items} }, nil)
	c := Dial(context.Background(), sock)
	if c == nil {
		t.Fatal("Dial found no daemon at a socket whose status lists 20,000 torrents")
	}
	st, err := c.Status(context.Background())
	if err != nil || len(st.Items) != len(items) {
		t.Fatalf("Status: %d items, %v; want %d", len(st.Items), err, len(items))
	}
}

// While the daemon verifies its cache for seeding, its socket answers Dial
// at once (an install that found no answer within 2 s started an engine of
// its own beside the daemon's) and serves downloads; the full status waits
// until the torrents it lists are set up.
func TestSocketAnswersWhileSeedingIsSetUp(t *testing.T) {
	dir := t.TempDir()
	tracker, _ := nettest.Hanging(t) // the download waits (a refused tracker is given up in about 2 s)
	writeCatalog(t, dir, "http://"+tracker+"/announce")
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ln.Release)
	engine, err := swarm.New(swarm.Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	h := &handler{engine: engine, catalogDir: dir, logger: slog.New(slog.DiscardHandler), started: time.Now(), ready: ready}
	go func() { done <- serve(ctx, ln, h) }()
	t.Cleanup(func() {
		cancel()
		<-done
		engine.Close()
	})

	start := time.Now()
	c := Dial(context.Background(), sock)
	if c == nil {
		t.Fatal("Dial found no daemon while it sets up seeding")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Dial took %v while the daemon sets up seeding", d)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelShort()
	if _, err := c.Status(short); err == nil {
		t.Error("the full status answered before seeding was set up")
	}
	dl, cancelDL := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelDL()
	started := make(chan struct{})
	go func() {
		defer close(started)
		c.Download(dl, Request{Items: []Item{{Name: "foo", Version: "1.0.0"}}}, 0, func(Event) {})
	}()
	for deadline := time.Now().Add(3 * time.Second); engine.Stats().Torrents == 0; {
		if time.Now().After(deadline) {
			t.Fatal("a download asked while seeding was set up did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancelDL()
	<-started
	close(ready)
	if st, err := c.Status(context.Background()); err != nil || st.PID == 0 {
		t.Fatalf("status once set up: %+v, %v", st, err)
	}
}

// A daemon that dies mid-download (kill -9) breaks the stream: the error
// says the daemon stopped answering, where it said only "daemon:
// unexpected EOF". What is kept is the install's warning to say, with its
// figure (after a kill -9 at 4 s: "2.0 MiB of big 1.0.0's archive is
// kept"): the error said "What was downloaded is kept, and the next
// install resumes it" beside it, and when nothing was kept.
func TestDownloadFromDaemonThatDies(t *testing.T) {
	c, _ := dialFake(t, func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(Event{Bytes: 1, Total: 2})
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection is cut mid-stream, as by the daemon's death
	}, nil)
	err := c.Download(context.Background(), Request{Items: []Item{{Name: "a", Version: "1"}}}, 0, nil)
	if err == nil || !strings.HasSuffix(err.Error(), "(the daemon stopped answering: is it still running (dist-client status)?)") || strings.Contains(err.Error(), "kept") {
		t.Fatalf("Download from a daemon that died: %v", err)
	}
}

// TestDownloadAskedAgainOnACutConnection: the connection Dial left open
// is closed by the daemon's side before any answer to the download (the
// daemon closed it as idle as the request went out): the request is sent
// again on a new connection. It failed with "daemon: Post …: EOF", which
// is neither the daemon's word nor a download it left.
func TestDownloadAskedAgainOnACutConnection(t *testing.T) {
	var asked atomic.Int32
	c, _ := dialFake(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if asked.Add(1) == 1 {
			panic(http.ErrAbortHandler) // closed with no answer
		}
		json.NewEncoder(w).Encode(Event{Finished: true})
	}, nil)
	err := c.Download(context.Background(), Request{Items: []Item{{Name: "a", Version: "1"}}}, 0, nil)
	if err != nil || asked.Load() != 2 {
		t.Fatalf("Download over a connection cut before the answer: %v after %d requests; want success on the second", err, asked.Load())
	}
}

// TestCloseDropsTheConnection: Dial leaves its connection open for the
// next request; Close drops it (a daemon that answered but is not the
// one wanted, asked again and again while an install waits for a
// restart, kept one open each, with two goroutines).
func TestCloseDropsTheConnection(t *testing.T) {
	closed := make(chan struct{}, 1)
	c, _ := dialFake(t, nil, func(srv *http.Server) {
		srv.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateClosed {
				closed <- struct{}{}
			}
		}
	})
	c.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the daemon's side of the connection is still open 5 s after Close")
	}
}

// TestDownloadFromDaemonGoneBeforeAnswer: the daemon Dial found exits
// before it answers the download (nothing listens any more): the error
// matches ErrGone, as for a daemon that leaves a download in the middle,
// so that the install goes on without it. It was a plain error.
func TestDownloadFromDaemonGoneBeforeAnswer(t *testing.T) {
	c, srv := dialFake(t, nil, nil)
	srv.Close() // the daemon exits: its listener and connections close
	err := c.Download(context.Background(), Request{Items: []Item{{Name: "a", Version: "1"}}}, 0, nil)
	if !errors.Is(err, ErrGone) {
		t.Fatalf("Download from a daemon gone before it answered: %v; want ErrGone", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Download(ctx, Request{Items: []Item{{Name: "a", Version: "1"}}}, 0, nil); errors.Is(err, ErrGone) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Download interrupted before it was asked: %v; want context.Canceled, not ErrGone", err)
	}
}

// A daemon started before requests had Keep (the binary upgraded under a
// running daemon) refuses the field; the client asks again without it.
func TestDownloadFromOlderDaemonWithoutKeep(t *testing.T) {
	asked := 0
	c, _ := dialFake(t, func(w http.ResponseWriter, r *http.Request) {
		asked++
		var old struct{ Items []Item } // the request as older daemons decode it
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&old); err != nil {
			http.Error(w, fmt.Sprintf("bad request: %v (want ...)", err), http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(Event{Finished: true})
	}, nil)
	err := c.Download(context.Background(), Request{Items: []Item{{Name: "a", Version: "1"}}, Keep: []Item{{Name: "b", Version: "1"}}}, 0, nil)
	if err != nil || asked != 2 {
		t.Fatalf("Download from an older daemon: %v after %d requests; want success on the second", err, asked)
	}
}

// A download that web seeds refused matches httpbound's errors on the
// client's side of the socket too (Event.Refused), as the engine's error
// does, and gives the 403's URL, so that the install gives the sync's
// hint (a 403 and a redirect had none through the daemon); a daemon older
// than Refused says Unauthorized alone; an error without either matches
// none.
func TestDownloadErrorRefused(t *testing.T) {
	for _, tc := range []struct {
		name                          string
		ev                            Event
		unauthorized, forbidden, sent bool
		url, url401                   string
	}{
		{name: "401", ev: Event{Unauthorized: true, Refused: &Refusal{Unauthorized: true}}, unauthorized: true, sent: true},
		{name: "401 of a web seed named", ev: Event{Unauthorized: true, Refused: &Refusal{Unauthorized: true, UnauthorizedURL: "https://cdn.example/pkgs/"}},
			unauthorized: true, sent: true, url401: "https://cdn.example/pkgs/"},
		{name: "401 from an older daemon", ev: Event{Unauthorized: true}, unauthorized: true, sent: true},
		{name: "403", ev: Event{Refused: &Refusal{Forbidden: true, URL: "http://u:xxxxx@h/packages/"}}, forbidden: true, sent: true, url: "http://u:xxxxx@h/packages/"},
		{name: "401 after a redirect", ev: Event{Refused: &Refusal{Unauthorized: true, NotSent: true}}, unauthorized: true},
		{name: "no refusal", sent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := fakeDaemon(t, func() Status { return Status{PID: 1} }, func() Event {
				ev := tc.ev
				ev.Error, ev.FailedArchive = "download a-1.tar.zst: no source: web seed http://h/packages/a-1.tar.zst: HTTP 401 Unauthorized", "a-1.tar.zst"
				return ev
			})
			c := Dial(context.Background(), sock)
			if c == nil {
				t.Fatal("no daemon found at the socket")
			}
			err := c.Download(context.Background(), Request{Items: []Item{{Name: "a", Version: "1"}}}, 0, nil)
			var ae *ArchiveError
			if !errors.As(err, &ae) || ae.Archive != "a-1.tar.zst" || !strings.HasSuffix(err.Error(), "HTTP 401 Unauthorized") {
				t.Fatalf("Download: %v, want the archive's error", err)
			}
			for target, want := range map[error]bool{httpbound.ErrUnauthorized: tc.unauthorized, httpbound.ErrForbidden: tc.forbidden, httpbound.ErrNotSent: !tc.sent} {
				if got := errors.Is(err, target); got != want {
					t.Errorf("errors.Is(%q, %q) = %v, want %v", err, target, got, want)
				}
			}
			if got := httpbound.RefusedURL(err, http.StatusForbidden); got != tc.url {
				t.Errorf("RefusedURL(%q, 403) = %q, want %q", err, got, tc.url)
			}
			if got := httpbound.RefusedURL(err, http.StatusUnauthorized); got != tc.url401 {
				t.Errorf("RefusedURL(%q, 401) = %q, want %q", err, got, tc.url401)
			}
		})
	}
}

// TestCancelMidEvent: a download cancelled (Ctrl-C) while the daemon's
// event line is half sent ends with the cancellation, not with a "bad
// event" about the half line: the attacker's run saw "daemon: bad event:
// unexpected end of JSON input" once its deadline passed.
func TestCancelMidEvent(t *testing.T) {
	sent := make(chan struct{})
	c, _ := dialFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"bytes":1,"total":10,"peers":`))
		w.(http.Flusher).Flush()
		close(sent)
		<-r.Context().Done()
	}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-sent
		time.Sleep(50 * time.Millisecond) // the half line is read
		cancel()
	}()
	err := c.Download(ctx, Request{Items: []Item{{Name: "a", Version: "1"}}}, 0, nil)
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "bad event") {
		t.Errorf("download cancelled mid-event: %v; want the cancellation", err)
	}
}

// TestClosedMidEvent: a daemon whose connection closes in the middle of an
// event line (it died while sending) is a daemon gone, which the install
// answers by downloading the rest itself, not a "bad event".
func TestClosedMidEvent(t *testing.T) {
	c, _ := dialFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("{\"bytes\":1,\"total\":10}\n{\"bytes\":2,\"tot"))
	}, nil)
	err := c.Download(context.Background(), Request{Items: []Item{{Name: "a", Version: "1"}}}, 0, nil)
	if !errors.Is(err, ErrGone) || !strings.Contains(err.Error(), "in the middle of an event") {
		t.Errorf("connection closed mid-event: %v; want the daemon gone, saying so", err)
	}
}

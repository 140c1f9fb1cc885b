package install

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/cache"
	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/fetch"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/units"
)

// stoppedSource reports received bytes, then the command is interrupted
// (its context cancelled, as Ctrl-C does) before any archive completes.
type stoppedSource struct {
	stop     context.CancelFunc
	received int64
}

func (s *stoppedSource) Via() string { return "" }
func (s *stoppedSource) Close()      {}
func (s *stoppedSource) Fetch(ctx context.Context, _, _ []catalog.Package, ev fetch.Events) error {
	// 1 MiB verified by an earlier, interrupted install (the .part the
	// test left), and half a MiB received before the first report.
	ev.Progress(1<<20+512<<10, 1)
	ev.Progress(1<<20+s.received, 1)
	s.stop()
	<-ctx.Done()
	return ctx.Err()
}

// The history records what a command did as it was given: its options
// (install --overwrite 'bin/*' was recorded "install clash") and, for an
// interrupted one, the bytes it received (0 B were recorded for an install
// stopped with 13.9 MiB received and kept; then what came before the first
// progress report was left out).
func TestHistoryRecordsTheCommandAndItsBytes(t *testing.T) {
	w := newWorld(t)
	w.publishHello()
	w.client.Overwrite = []string{"bin/*", "it's"}
	w.client.Reinstall = true
	if err := w.client.Install(context.Background(), []string{"hello"}); err != nil {
		t.Fatal(err)
	}
	w.client.Overwrite, w.client.Reinstall = nil, false

	os.Remove(filepath.Join(w.client.Paths.Cache(), "hello-1.0.0.tar.zst"))
	w.client.Uninstall(context.Background(), []string{"hello"}, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	part := filepath.Join(w.client.Paths.Cache(), "hello-1.0.0.tar.zst.part")
	if err := os.WriteFile(part, bytes.Repeat([]byte{1}, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	w.client.source = &stoppedSource{stop: cancel, received: 3 << 20}
	if err := w.client.Install(ctx, []string{"hello"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted install: %v", err)
	}

	h, err := w.read().History(context.Background(), state.HistoryQuery{Transfer: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 {
		t.Fatalf("history: %+v", h)
	}
	if got, want := h[0].Command, `install --reinstall --overwrite 'bin/*' --overwrite 'it'\''s' hello`; got != want {
		t.Errorf("command %q; want %q", got, want)
	}
	if last := h[2]; last.Result != state.ResultInterrupted || last.Downloaded != 3<<20 {
		t.Errorf("interrupted install recorded %s with %d bytes downloaded; want %s, %d", last.Result, last.Downloaded, state.ResultInterrupted, 3<<20)
	}
	// Its transfer report lists the archive it had not finished, and what
	// the partial download keeps, at most the archive's size (it was
	// empty).
	var rep fetch.Report
	if err := json.Unmarshal(h[2].Transfer, &rep); err != nil || len(rep.Archives) != 1 || rep.Note != "" {
		t.Fatalf("interrupted install's transfer report: %v\n%s", err, h[2].Transfer)
	}
	if a := rep.Archives[0]; a.Archive != "hello-1.0.0.tar.zst" || !a.Incomplete || !a.SourcesUnknown || a.Kept != a.Total || rep.Elapsed <= 0 {
		t.Errorf("interrupted install's transfer report: %s", h[2].Transfer)
	}
}

// silentSource gets nothing before the command is interrupted.
type silentSource struct{ stop context.CancelFunc }

func (s *silentSource) Via() string { return "" }
func (s *silentSource) Close()      {}
func (s *silentSource) Fetch(ctx context.Context, _, _ []catalog.Package, _ fetch.Events) error {
	s.stop()
	<-ctx.Done()
	return ctx.Err()
}

// An install interrupted before anything came says so in its history
// entry's transfer report, which was empty.
func TestHistoryInterruptedBeforeAnyTransfer(t *testing.T) {
	w := newWorld(t)
	w.publishHello()
	os.Remove(filepath.Join(w.client.Paths.Cache(), "hello-1.0.0.tar.zst"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.client.source = &silentSource{stop: cancel}
	if err := w.client.Install(ctx, []string{"hello"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted install: %v", err)
	}
	w.wantInterruptedBeforeAnyTransfer()
}

// An install interrupted while it asks the daemon to download (Ctrl-C in
// the milliseconds before the fetch starts) is recorded as the one above:
// the dial failed with the context, the install started an engine of its
// own, whose bind failed on the daemon's peer_addr, and the entry said it
// failed ("peer_addr ... is in use") with no transfer report.
func TestHistoryInterruptedWhileAskingTheDaemon(t *testing.T) {
	w := newWorld(t)
	w.publishHello()
	os.Remove(filepath.Join(w.client.Paths.Cache(), "hello-1.0.0.tar.zst"))
	peer, err := net.Listen("tcp", "127.0.0.1:0") // the daemon's peer_addr
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	w.client.Config.PeerAddr = peer.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The daemon: the signal comes while it is asked for its status.
	sock, err := net.Listen("unix", w.client.Paths.DaemonSocket())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		cancel()
		<-r.Context().Done()
	})}
	go srv.Serve(sock)
	defer srv.Close()
	if err := w.client.Install(ctx, []string{"hello"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted install: %v", err)
	}
	w.wantInterruptedBeforeAnyTransfer()
}

// wantInterruptedBeforeAnyTransfer checks that the only history entry is
// an interrupted install whose transfer report lists hello's archive as
// incomplete and says nothing was transferred.
func (w *world) wantInterruptedBeforeAnyTransfer() {
	t := w.t
	t.Helper()
	h, err := w.read().History(context.Background(), state.HistoryQuery{Transfer: true})
	if err != nil || len(h) != 1 {
		t.Fatalf("history: %v %+v", err, h)
	}
	var rep fetch.Report
	if err := json.Unmarshal(h[0].Transfer, &rep); err != nil {
		t.Fatalf("%v: %s", err, h[0].Transfer)
	}
	incomplete := slices.IndexFunc(rep.Archives, func(a fetch.ArchiveReport) bool { return a.Archive == "hello-1.0.0.tar.zst" && a.Incomplete })
	if h[0].Result != state.ResultInterrupted || rep.Note != "interrupted before any transfer" || incomplete < 0 {
		t.Errorf("entry %s, transfer report %s; want it interrupted, saying before any transfer", h[0].Result, h[0].Transfer)
	}
}

// The plan says what is left to download of a resumed download, of how
// much: it said the whole size (a newcomer's run), as apt says "Need to
// get 13.9 MB/30.0 MB".
func TestPlanSaysWhatIsLeft(t *testing.T) {
	w := newWorld(t)
	w.publishHello()
	archive := filepath.Join(w.client.Paths.Cache(), "hello-1.0.0.tar.zst")
	fi, err := os.Stat(archive)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(archive)
	if err := os.WriteFile(cache.PartName(archive), make([]byte, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	w.client.source = &dirSource{w: w}
	if err := w.client.Install(context.Background(), []string{"hello"}); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	want := fmt.Sprintf("Total download size:  %s of %s (100 B kept from an interrupted download", units.FormatBytes(fi.Size()-100), units.FormatBytes(fi.Size()))
	if !strings.Contains(w.out.String(), want) {
		t.Errorf("install said:\n%s\nwant %q", w.out, want)
	}
}

// install --reinstall of a version the catalog no longer lists fails and
// says why: it warned, then said "already installed (--reinstall installs
// it again)" and exited 0 (a newcomer's run).
func TestReinstallWithdrawn(t *testing.T) {
	w := newWorld(t)
	w.publishHello()
	if err := w.client.Install(context.Background(), []string{"hello"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.pub.Remove(context.Background(), []catalog.Ref{{Name: "hello", Version: "1.0.0"}}); err != nil {
		t.Fatal(err)
	}
	w.receive()
	w.client.Reinstall = true
	err := w.client.Install(context.Background(), []string{"hello"})
	// No version of hello is left: the hint said `dist-client search
	// hello` lists the others, which listed nothing (a newcomer's run).
	want := "cannot reinstall hello 1.0.0: the catalog no longer lists it (the publisher withdrew it), nor any version of hello: keep this one as it is, or uninstall it"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("reinstall of a withdrawn version: %v\nwant %s", err, want)
	}
	// With others left, it names them, newest first.
	for _, v := range []string{"1.1.0", "2.0.0"} {
		w.publish(w.pkg("hello", v, map[string]string{"assets/hello": "#!/bin/sh\n"}))
	}
	err = w.client.Install(context.Background(), []string{"hello"})
	want = "cannot reinstall hello 1.0.0: the catalog no longer lists it (the publisher withdrew it); install another version (the catalog lists 2.0.0 and 1.1.0: dist-client install hello@VERSION), or keep this one as it is"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("reinstall of a withdrawn version, others listed: %v\nwant %s", err, want)
	}
	if _, ok := w.state().Get("hello"); !ok {
		t.Errorf("hello is no longer installed")
	}
}

// failingSource writes the first keep bytes of each archive to its .part
// file, as the engine leaves a download it drops incomplete, and fails the
// fetch as a stall does.
type failingSource struct {
	w    *world
	keep int
}

func (s *failingSource) Via() string { return "" }
func (s *failingSource) Close()      {}
func (s *failingSource) Fetch(_ context.Context, rows, _ []catalog.Package, ev fetch.Events) error {
	for _, r := range rows {
		b, err := os.ReadFile(filepath.Join(s.w.pub.Paths.Archives(), r.Archive))
		if err != nil {
			return err
		}
		if s.keep > 0 {
			if err := os.WriteFile(cache.PartName(filepath.Join(s.w.client.Paths.Cache(), r.Archive)), b[:s.keep], 0o644); err != nil {
				return err
			}
		}
		ev.Progress(int64(s.keep), 1)
	}
	return errors.New("no data received for 8s from any peer or web seed")
}

// A download that fails says that what arrived is kept for the next
// install, as Ctrl-C does: it said nothing, and the next plan called the
// bytes "kept from an interrupted download" (a helper's run, a stall
// timeout). Nothing kept, nothing said.
func TestFailedDownloadSaysWhatIsKept(t *testing.T) {
	for _, keep := range []int{0, 100} {
		t.Run(fmt.Sprint(keep), func(t *testing.T) {
			w := newWorld(t)
			w.publishHello()
			archive := filepath.Join(w.client.Paths.Cache(), "hello-1.0.0.tar.zst")
			if err := os.Remove(archive); err != nil {
				t.Fatal(err)
			}
			w.client.source = &failingSource{w: w, keep: keep}
			if err := w.client.Install(context.Background(), []string{"hello"}); err == nil || !strings.Contains(err.Error(), "no data received") {
				t.Fatalf("install: %v", err)
			}
			said := fmt.Sprintf("warning: 100 B of hello 1.0.0's archive is kept in %s: the next install or upgrade that needs it resumes from there\n", w.client.Paths.Cache())
			if got := strings.Contains(w.out.String(), said); got != (keep > 0) {
				t.Errorf("install said:\n%s\nwant %q: %v", w.out, said, keep > 0)
			}
			if strings.Contains(w.out.String(), "interrupted") {
				t.Errorf("a failure called an interruption:\n%s", w.out)
			}
			if keep == 0 {
				return
			}
			// The next plan counts the same bytes.
			w.out.Reset()
			w.client.source = &dirSource{w: w}
			if err := w.client.Install(context.Background(), []string{"hello"}); err != nil {
				t.Fatalf("%v\n%s", err, w.out)
			}
			if want := "(100 B kept from an interrupted download"; !strings.Contains(w.out.String(), want) {
				t.Errorf("next install said:\n%s\nwant %q", w.out, want)
			}
		})
	}
}

// partSource completes every archive but partial's, of which it leaves
// the first keep bytes in the cache as a download dropped incomplete
// does, and waits for the command to stop it.
type partSource struct {
	w       *world
	partial string
	keep    int
}

func (s *partSource) Via() string { return "" }
func (s *partSource) Close()      {}
func (s *partSource) Fetch(ctx context.Context, rows, _ []catalog.Package, ev fetch.Events) error {
	for _, r := range rows {
		if r.Archive == s.partial {
			b, err := os.ReadFile(filepath.Join(s.w.pub.Paths.Archives(), r.Archive))
			if err != nil {
				return err
			}
			if err := os.WriteFile(cache.PartName(filepath.Join(s.w.client.Paths.Cache(), r.Archive)), b[:s.keep], 0o644); err != nil {
				return err
			}
			continue
		}
		s.w.copy(filepath.Join(s.w.pub.Paths.Archives(), r.Archive), filepath.Join(s.w.client.Paths.Cache(), r.Archive))
		ev.Finished(r, swarm.Transfer{Total: r.Size, FromSeeder: r.Size})
	}
	<-ctx.Done()
	return ctx.Err()
}

// When a script fails while another archive is still downloading, the
// warning says how much of which package's archive is kept, which an
// install of that package resumes: it said "what was downloaded (100 B) is
// kept ... and resumes with the next install or upgrade", of no package,
// though the next install of another would not. Ctrl-C with nothing kept
// says nothing of a keep (it said "what was downloaded is kept").
func TestStoppedInstallSaysWhatIsKeptOfWhich(t *testing.T) {
	w := newWorld(t)
	w.publish(
		w.pkg("bad", "1.0.0", map[string]string{"assets/bad": "bad", "scripts/install.sh": "exit 3\n"}),
		w.pkg("big", "1.0.0", map[string]string{"assets/big": strings.Repeat("big data ", 100)}),
	)
	for _, a := range []string{"bad-1.0.0.tar.zst", "big-1.0.0.tar.zst"} {
		os.Remove(filepath.Join(w.client.Paths.Cache(), a))
	}
	w.client.source = &partSource{w: w, partial: "big-1.0.0.tar.zst", keep: 100}
	if err := w.client.Install(context.Background(), []string{"bad", "big"}); err == nil || !strings.Contains(err.Error(), "install.sh exited with status 3") {
		t.Fatalf("install: %v", err)
	}
	want := fmt.Sprintf("warning: 100 B of big 1.0.0's archive is kept in %s: the next install or upgrade that needs it resumes from there\n", w.client.Paths.Cache())
	if out := w.out.String(); !strings.Contains(out, want) || strings.Contains(out, "interrupted") {
		t.Errorf("install said:\n%s\nwant %q", out, want)
	}

	w.out.Reset()
	os.Remove(cache.PartName(filepath.Join(w.client.Paths.Cache(), "big-1.0.0.tar.zst")))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.client.source = &silentSource{stop: cancel}
	if err := w.client.Install(ctx, []string{"big"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted install: %v", err)
	}
	if out := w.out.String(); strings.Contains(out, "kept") {
		t.Errorf("an install interrupted with nothing kept said:\n%s", out)
	}
}

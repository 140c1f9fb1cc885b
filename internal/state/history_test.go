package state

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestHistory(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	id1, err := db.StartHistory(ctx, "install hello")
	if err != nil {
		t.Fatal(err)
	}
	changes := []HistoryChange{{Name: "hello", To: "1.0.0"}}
	if err := db.Commit(ctx, Change{Put: []Package{{Record: rec("hello", "1.0.0")}}, History: HistoryEnd{ID: id1, Changes: changes, Downloaded: 100, Installed: 42}}); err != nil {
		t.Fatal(err)
	}
	id2, _ := db.StartHistory(ctx, "install broken")
	if err := db.FinishHistory(ctx, HistoryEnd{ID: id2, Result: ResultFailed, Error: "install.sh exited with status 3"}); err != nil {
		t.Fatal(err)
	}
	db.StartHistory(ctx, "uninstall hello") // the process "dies" here
	if err := db.MarkInterrupted(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := db.History(ctx, HistoryQuery{Transfer: true})
	if err != nil || len(h) != 3 {
		t.Fatalf("History = %+v, %v", h, err)
	}
	if h[0].Result != ResultOK || h[0].Changes[0] != changes[0] || h[0].Downloaded != 100 || h[0].Installed != 42 || h[0].Finished.IsZero() {
		t.Errorf("entry 1 = %+v", h[0])
	}
	if h[1].Result != ResultFailed || !strings.Contains(h[1].Error, "status 3") {
		t.Errorf("entry 2 = %+v", h[1])
	}
	if h[2].Result != ResultInterrupted || h[2].Command != "uninstall hello" {
		t.Errorf("entry 3 = %+v", h[2])
	}
}

// History reads the last N entries oldest first when asked, and each
// entry's transfer report only when asked: a table of a long history read
// every report, up to a megabyte each.
func TestHistoryQuery(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	for i := range 5 {
		id, err := db.StartHistory(ctx, fmt.Sprintf("install p%d", i))
		if err != nil {
			t.Fatal(err)
		}
		report := fmt.Sprintf(`{"archives": %d}`, i)
		if err := db.FinishHistory(ctx, HistoryEnd{ID: id, Result: ResultOK, Downloaded: int64(i), Transfer: []byte(report)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		q        HistoryQuery
		commands []string
	}{
		{HistoryQuery{}, []string{"install p0", "install p1", "install p2", "install p3", "install p4"}},
		{HistoryQuery{Last: 2, Transfer: true}, []string{"install p3", "install p4"}},
		{HistoryQuery{Last: 1}, []string{"install p4"}},
		{HistoryQuery{Last: 9}, []string{"install p0", "install p1", "install p2", "install p3", "install p4"}},
	} {
		h, err := db.History(ctx, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		var commands []string
		for _, e := range h {
			commands = append(commands, e.Command)
			want := ""
			if tt.q.Transfer {
				want = fmt.Sprintf(`{"archives": %d}`, e.Downloaded)
			}
			if string(e.Transfer) != want {
				t.Errorf("%+v: entry %q has transfer %q, want %q", tt.q, e.Command, e.Transfer, want)
			}
		}
		if !slices.Equal(commands, tt.commands) {
			t.Errorf("%+v: %q, want %q", tt.q, commands, tt.commands)
		}
	}
}

// RecentDownloads (a dry run's rate): the last n successful entries that
// downloaded at least min bytes, newest first; failed, running and small
// ones are left out.
func TestRecentDownloads(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	entries := []struct {
		result     string
		downloaded int64
	}{
		{ResultOK, 5 << 20}, {ResultOK, 2 << 20}, {ResultFailed, 9 << 20}, {ResultOK, 100},
		{ResultOK, 3 << 20}, {ResultInterrupted, 7 << 20}, {ResultOK, 1 << 20}, {ResultRunning, 8 << 20},
	}
	for _, e := range entries {
		id, err := db.StartHistory(ctx, "install x")
		if err != nil {
			t.Fatal(err)
		}
		if e.result != ResultRunning {
			if err := db.FinishHistory(ctx, HistoryEnd{ID: id, Result: e.result, Downloaded: e.downloaded}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tt := range []struct {
		n    int
		min  int64
		want []int64 // Downloaded of the entries returned
	}{
		{n: 10, min: 1 << 20, want: []int64{1 << 20, 3 << 20, 2 << 20, 5 << 20}},
		{n: 2, min: 1 << 20, want: []int64{1 << 20, 3 << 20}},
		{n: 10, min: 3 << 20, want: []int64{3 << 20, 5 << 20}},
		{n: 10, min: 0, want: []int64{1 << 20, 3 << 20, 100, 2 << 20, 5 << 20}},
		{n: 10, min: 6 << 20, want: nil},
	} {
		got, err := db.RecentDownloads(ctx, tt.n, tt.min)
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int64
		for _, e := range got {
			sizes = append(sizes, e.Downloaded)
		}
		if !slices.Equal(sizes, tt.want) {
			t.Errorf("RecentDownloads(%d, %d) = %v; want %v", tt.n, tt.min, sizes, tt.want)
		}
	}
}

// NoteDownloaded keeps a running entry's downloaded bytes, so that a
// process that dies mid-download leaves them (history said 0 B); it never
// lowers them, and leaves an entry that ended alone.
func TestNoteDownloaded(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	killed, _ := db.StartHistory(ctx, "install big")
	for _, n := range []int64{1 << 20, 3 << 20, 2 << 20} {
		if err := db.NoteDownloaded(ctx, killed, n); err != nil {
			t.Fatal(err)
		}
	}
	ended, _ := db.StartHistory(ctx, "install small")
	if err := db.FinishHistory(ctx, HistoryEnd{ID: ended, Result: ResultFailed, Error: "no source", Downloaded: 500}); err != nil {
		t.Fatal(err)
	}
	if err := db.NoteDownloaded(ctx, ended, 9000); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkInterrupted(ctx); err != nil { // the next command, after the kill
		t.Fatal(err)
	}
	h, err := db.History(ctx, HistoryQuery{})
	if err != nil || len(h) != 2 {
		t.Fatalf("History = %+v, %v", h, err)
	}
	if h[0].Result != ResultInterrupted || h[0].Downloaded != 3<<20 {
		t.Errorf("killed entry: %s, %d bytes; want interrupted, %d", h[0].Result, h[0].Downloaded, 3<<20)
	}
	if h[1].Downloaded != 500 {
		t.Errorf("ended entry: %d bytes, want its end's 500", h[1].Downloaded)
	}
}

package state

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/proctest"
)

// emptyFiles is a package of n empty files, as the attacker's 300,000 were
// (scaled down: 30,000 make a 3.7 MB state).
func emptyFiles(pkg string, n int) []File {
	const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	out := make([]File, 0, n)
	for i := range n {
		out = append(out, File{Path: fmt.Sprintf("share/%s/d%03d/f%06d", pkg, i/1000, i), Type: TypeFile, Mode: 0o644, SHA256: empty})
	}
	return out
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// keep is the package every case leaves installed; its record, files and
// the history must read back the same after Reclaim.
func keepPackage() Package {
	r := rec("keep", "1.0.0")
	r.Depends = []string{"big ^1"}
	return Package{Record: r, Files: []File{
		{Path: "bin", Type: TypeDir, Mode: 0o755, Created: true},
		{Path: "bin/keep", Type: TypeFile, Mode: 0o755, Size: 3, SHA256: sum},
		{Path: "bin/k", Type: TypeSymlink, Mode: 0o777, Target: "keep"},
	}}
}

// TestReclaim: after a large removal the file gives the space back, and
// nothing that stays is lost; after a small one it is left alone.
func TestReclaim(t *testing.T) {
	tests := []struct {
		name  string
		big   int    // files of the package "big", installed with keep
		small int    // packages of one file, installed with keep
		then  Change // the removal
		// reopen closes the database between the removal and Reclaim: a
		// state left bloated by a dist-client before Reclaim existed.
		reopen bool
		// reader holds a snapshot of another connection (another
		// process's dist-client list) while Reclaim runs.
		reader     bool
		wantShrink bool
	}{
		{name: "uninstall of a package of 30,000 files", big: 30000, then: Change{Remove: []string{"big"}}, wantShrink: true},
		{name: "state bloated before this fix", big: 30000, then: Change{Remove: []string{"big"}}, reopen: true, wantShrink: true},
		{name: "upgrade to a version of one file", big: 30000, then: Change{Put: []Package{{Record: rec("big", "2.0.0"), Files: emptyFiles("big", 1)}}}, wantShrink: true},
		{name: "with a reader holding a snapshot", big: 30000, then: Change{Remove: []string{"big"}}, reader: true, wantShrink: true},
		{name: "uninstall of a small package", big: 30000, small: 3, then: Change{Remove: []string{"s1"}}},
		{name: "uninstall of half a small state", small: 200, then: Change{Remove: []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db, path := openTest(t)
			put := []Package{keepPackage()}
			if tt.big > 0 {
				put = append(put, Package{Record: rec("big", "1.0.0"), Files: emptyFiles("big", tt.big)})
			}
			for i := range tt.small {
				put = append(put, Package{Record: rec(fmt.Sprintf("s%d", i), "1.0.0"), Files: emptyFiles(fmt.Sprintf("s%d", i), 1)})
			}
			hist, err := db.StartHistory(ctx, "install")
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Commit(ctx, Change{Put: put, History: HistoryEnd{ID: hist, Changes: []HistoryChange{{Name: "keep", To: "1.0.0"}}}}); err != nil {
				t.Fatal(err)
			}
			if err := db.Commit(ctx, tt.then); err != nil {
				t.Fatal(err)
			}
			want, err := db.State(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tt.reopen {
				db.Close()
				if db, err = Open(ctx, path, "/opt/p"); err != nil {
					t.Fatal(err)
				}
				defer db.Close()
			}
			before := fileSize(t, path)
			var reader *DB
			if tt.reader {
				var ok bool
				if reader, ok, err = OpenRead(ctx, path); err != nil || !ok {
					t.Fatalf("OpenRead: %v, %v", ok, err)
				}
				defer reader.Close()
			}
			var freed int64
			reclaim := func() {
				t0 := time.Now()
				if freed, err = db.Reclaim(ctx); err != nil {
					t.Fatal(err)
				}
				t.Logf("Reclaim: %d bytes given back in %v", freed, time.Since(t0))
			}
			if reader != nil {
				err := reader.Read(ctx, func(s *Snapshot) error {
					st, err := s.State(ctx)
					if err != nil {
						return err
					}
					reclaim()
					// The snapshot still reads the rows it began with.
					files, err := s.Files(ctx, "keep")
					if err != nil || len(st.Packages) != len(want.Packages) || len(files) != 3 {
						t.Errorf("the reader's snapshot during Reclaim: %d records, files %+v, %v", len(st.Packages), files, err)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				reader.Close()
				// A reader held the checkpoint back; the last connection
				// to close finishes it.
				db.Close()
			} else {
				reclaim()
			}
			after := fileSize(t, path)
			t.Logf("installed.db: %d -> %d bytes", before, after)
			if tt.wantShrink {
				if freed <= 0 || after*4 > before {
					t.Fatalf("a large removal left installed.db at %d of %d bytes (Reclaim said %d given back)", after, before, freed)
				}
			} else if freed != 0 || after != before {
				t.Fatalf("a small removal changed installed.db: %d -> %d bytes (Reclaim said %d given back)", before, after, freed)
			}

			// Nothing is lost: a new process reads back every record, the
			// files of keep and the history.
			db2, err := Open(ctx, path, "/opt/p")
			if err != nil {
				t.Fatal(err)
			}
			defer db2.Close()
			got, err := db2.State(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Packages) != len(want.Packages) {
				t.Fatalf("records after Reclaim: %d, want %d", len(got.Packages), len(want.Packages))
			}
			for name, r := range want.Packages {
				g := got.Packages[name]
				if g.Name != r.Name || g.Version != r.Version || len(g.Depends) != len(r.Depends) || !g.InstalledAt.Equal(r.InstalledAt) {
					t.Fatalf("record %s after Reclaim = %+v, want %+v", name, g, r)
				}
			}
			files, err := db2.Files(ctx, "keep")
			if err != nil {
				t.Fatal(err)
			}
			wantFiles := keepPackage().Files
			if len(files) != len(wantFiles) || files[0] != wantFiles[0] || files[1] != wantFiles[2] || files[2] != wantFiles[1] {
				t.Fatalf("files of keep after Reclaim = %+v", files)
			}
			if h, err := db2.History(ctx, HistoryQuery{}); err != nil || len(h) != 1 || h[0].Changes[0].Name != "keep" {
				t.Fatalf("history after Reclaim = %+v, %v", h, err)
			}
		})
	}
}

const reclaimKillEnv = "DISTPAC_TEST_RECLAIM_DB"

// TestReclaimKilled kills a process with SIGKILL at several moments of its
// Reclaim (the VACUUM of a state that keeps 30,000 files takes tens of
// milliseconds): the next process opens the state, its SQLite check passes
// and every record and file reads back; Reclaim then finishes.
func TestReclaimKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process per kill")
	}
	ctx := context.Background()
	seed, seedPath := openTest(t)
	put := []Package{keepPackage(), {Record: rec("stay", "1.0.0"), Files: emptyFiles("stay", 30000)}, {Record: rec("big", "1.0.0"), Files: emptyFiles("big", 30000)}}
	if err := seed.Commit(ctx, Change{Put: put}); err != nil {
		t.Fatal(err)
	}
	if err := seed.Commit(ctx, Change{Remove: []string{"big"}}); err != nil {
		t.Fatal(err)
	}
	seed.Close()
	image, err := os.ReadFile(seedPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, delay := range []time.Duration{0, 2 * time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond, 60 * time.Millisecond, 120 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "installed.db")
			if err := os.WriteFile(path, image, 0o644); err != nil {
				t.Fatal(err)
			}
			ctx2, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx2, os.Args[0], "-test.run=^TestReclaimHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), reclaimKillEnv+"="+path)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := proctest.Start(cmd); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(out)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("the helper did not start its Reclaim: %v", err)
				}
				if line == "reclaiming\n" {
					break
				}
			}
			time.Sleep(delay)
			cmd.Process.Signal(syscall.SIGKILL)
			go func() { _, _ = r.WriteTo(io.Discard) }()
			werr := cmd.Wait()
			var ee *exec.ExitError
			killed := errors.As(werr, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
			t.Logf("killed during Reclaim: %v (%v)", killed, werr)

			db, err := Open(ctx, path, "/opt/p")
			if err != nil {
				t.Fatalf("the state after a kill -9 in Reclaim: %v", err)
			}
			defer db.Close()
			if pageSize, pages, _, err := db.pages(ctx); err == nil {
				t.Logf("the next process finds %d bytes of pages, %d bytes of file (%d before Reclaim)", pages*pageSize, fileSize(t, path), len(image))
			}
			st, err := db.State(ctx)
			if err != nil || len(st.Packages) != 2 {
				t.Fatalf("records after a kill -9 in Reclaim: %+v, %v", st, err)
			}
			for name, n := range map[string]int{"keep": 3, "stay": 30000, "big": 0} {
				if files, err := db.Files(ctx, name); err != nil || len(files) != n {
					t.Fatalf("files of %s after a kill -9 in Reclaim: %d, %v; want %d", name, len(files), err, n)
				}
			}
			// A kill after the VACUUM's commit leaves nothing free for
			// this Reclaim to do: the pages are given back when this
			// process's connection closes and checkpoints the WAL.
			if _, err := db.Reclaim(ctx); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if after := fileSize(t, path); after*4 > int64(len(image))*3 {
				t.Fatalf("Reclaim after the kill left %d of %d bytes", after, len(image))
			}
		})
	}
}

// TestReclaimHelper is the process TestReclaimKilled kills.
func TestReclaimHelper(t *testing.T) {
	path := os.Getenv(reclaimKillEnv)
	if path == "" {
		t.Skip("run by TestReclaimKilled")
	}
	ctx := context.Background()
	db, err := Open(ctx, path, "/opt/p")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("reclaiming")
	if _, err := db.Reclaim(ctx); err != nil {
		t.Fatal(err)
	}
	db.Close()
}

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// make bench-fast at a small size: the install downloads the whole archive
// from the seeder and the row carries every figure the issue asks for (the
// download's rate, the install beside the tools, CPU, peak RSS).
func TestBenchFast(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes and installs a package beside curl, sha256sum and zstd")
	}
	for _, tool := range []string{"curl", "zstd", "sha256sum", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "dist-bench"), "-fast", "8MiB", "-runs", "2", "-json", "-bin", binDir)
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("dist-bench -fast: %v\n%s", err, stderr.String())
	}
	var rows []struct {
		Run                             int
		Curl, Sha256, Unpack, Install   time.Duration
		Archive, FromSeeder             int64
		Download, InstallCPU, SeederCPU time.Duration
		InstallRSS                      int64
	}
	if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("want 2 rows, got %s (%v)", stdout.String(), err)
	}
	for _, r := range rows {
		if r.Archive <= 0 || r.FromSeeder != r.Archive {
			t.Errorf("run %d: the seeder sent %d of %d archive bytes; want all", r.Run, r.FromSeeder, r.Archive)
		}
		if r.Curl <= 0 || r.Sha256 <= 0 || r.Unpack <= 0 || r.Install <= 0 || r.Download <= 0 || r.Download > r.Install {
			t.Errorf("run %d: times %+v: want each tool's, the install's and a download within it", r.Run, r)
		}
		if r.InstallCPU <= 0 || r.InstallRSS < 1<<20 || r.InstallRSS > 256<<20 {
			t.Errorf("run %d: install CPU %v, peak RSS %d bytes", r.Run, r.InstallCPU, r.InstallRSS)
		}
	}
}

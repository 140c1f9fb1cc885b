package archive

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// scanHelperEnv names the package directory TestScanUnreadableHelper scans
// when the test binary is re-run as an unprivileged user.
const scanHelperEnv = "DISTPAC_ARCHIVE_SCAN_HELPER_ROOT"

// TestScanUnreadableAsNobody covers the unreadable-file refusal even when the
// tests run as root (root reads anything): it re-runs this test binary as
// uid 65534 against a tree whose file is mode 0000.
func TestScanUnreadableAsNobody(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: TestScanRefuses covers unreadable files directly")
	}
	dir := t.TempDir()
	// The testing framework's temp dirs are 0700; the unprivileged child
	// must be able to enter them and run the copied binary.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "archive.test")
	copyFile(t, os.Args[0], bin, 0o755)
	pkg := filepath.Join(dir, "pkg")
	writeTree(t, pkg, []node{
		{path: "manifest.yaml", content: "x", perm: 0o644},
		{path: "assets/secret", content: "x", perm: 0o000},
	})

	cmd := exec.Command(bin, "-test.run=^TestScanUnreadableHelper$", "-test.v")
	cmd.Env = append(os.Environ(), scanHelperEnv+"="+pkg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("cannot run the test binary as uid 65534 here: %v\n%s", err, out)
	}
	if want := "scan error: assets/secret: cannot read: permission denied"; !strings.Contains(string(out), want) {
		t.Errorf("helper output lacks %q:\n%s", want, out)
	}
}

// TestScanUnreadableHelper is the child side of TestScanUnreadableAsNobody.
func TestScanUnreadableHelper(t *testing.T) {
	root := os.Getenv(scanHelperEnv)
	if root == "" {
		t.Skip("helper for TestScanUnreadableAsNobody")
	}
	_, err := Scan(root)
	fmt.Printf("scan error: %v\n", err)
}

func copyFile(t *testing.T, from, to string, perm os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

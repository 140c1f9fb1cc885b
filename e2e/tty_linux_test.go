package e2e

// Questions asked on a terminal: the binary runs with its standard input on
// a real pseudo-terminal made here (no library, no `script`), so the code
// path a user at a shell takes is the one tested.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/distpac/distpac/internal/proctest"
)

// openPTY makes a pseudo-terminal pair: what is written to master is what
// a user types into slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	unlock := int32(0)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlock pty: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("pty number: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty slave: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// typed runs the server binary with stdin on a terminal where answer is
// typed, and returns its stdout, stderr and exit status.
func (r *rig) typed(answer string, args ...string) (stdout, stderr string, exit int) {
	r.t.Helper()
	return r.typedAs("dist-server", "server", "server.yaml", answer, args...)
}

// typedAs is typed for any binary and installation.
func (r *rig) typedAs(binary, home, config, answer string, args ...string) (stdout, stderr string, exit int) {
	r.t.Helper()
	master, slave := openPTY(r.t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := r.cmd(ctx, binary, home, config, args...)
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, &out, &errOut
	if err := proctest.Start(cmd); err != nil {
		r.t.Fatal(err)
	}
	// The terminal buffers the line until the program reads it.
	if _, err := master.Write([]byte(answer)); err != nil {
		r.t.Fatal(err)
	}
	err := cmd.Wait()
	if ee, ok := err.(interface{ ExitCode() int }); ok && err != nil {
		exit = ee.ExitCode()
	} else if err != nil {
		r.t.Fatal(err)
	}
	return out.String(), errOut.String(), exit
}

func TestServerRemoveNameAsksOnATerminal(t *testing.T) {
	r := newRig(t, "")
	r.server("add", r.mkpkg("app", "1.0.0", 1024), r.mkpkg("app", "1.1.0", 1024), r.mkpkg("other", "1.0.0", 1024))
	question := regexp.MustCompile(`^Remove every version \(2\): app 1\.0\.0, 1\.1\.0\? \[y/N\] `)

	// No: nothing removed, exit status 1.
	out, errOut, exit := r.typed("n\n", "remove", "app")
	if exit != 1 || !question.MatchString(errOut) || !strings.Contains(errOut, "dist-server: remove: not confirmed; nothing removed") {
		t.Fatalf("answer n: exit %d, stdout %q, stderr %q", exit, out, errOut)
	}
	if list := r.server("list"); strings.Count(list, "\napp ") != 2 {
		t.Fatalf("after answering n, list is\n%s", list)
	}

	// Enter alone takes the default, which is no.
	if _, errOut, exit := r.typed("\n", "remove", "app"); exit != 1 || !strings.Contains(errOut, "nothing removed") {
		t.Fatalf("answer Enter: exit %d, stderr %q", exit, errOut)
	}

	// Yes: both versions go, the other package stays.
	out, errOut, exit = r.typed("y\n", "remove", "app")
	if exit != 0 || !question.MatchString(errOut) || out != "removed app 1.0.0\nremoved app 1.1.0\n" {
		t.Fatalf("answer y: exit %d, stdout %q, stderr %q", exit, out, errOut)
	}
	list := r.server("list")
	if strings.Contains(list, "app ") || !strings.Contains(list, "other ") {
		t.Fatalf("after answering y, list is\n%s", list)
	}
}

// TestCascadeAsksOnATerminal: uninstall --cascade asks before removing
// packages the user did not name; -y skips the question.
func TestCascadeAsksOnATerminal(t *testing.T) {
	r := newRig(t, "")
	r.server("add", r.mkpkg("lib", "1.0.0", 1024))
	app := r.mkpkg("app", "1.0.0", 1024)
	os.WriteFile(filepath.Join(app, "manifest.yaml"), []byte("name: app\nversion: 1.0.0\ndepends:\n  - lib\n"), 0o644)
	r.server("add", app)
	r.server("start")
	r.client1("sync")
	r.client1("install", "app")
	_, errOut, exit := r.typedAs("dist-client", "client1", "client1.yaml", "n\n", "uninstall", "--cascade", "app")
	if exit != 1 || !strings.Contains(errOut, "Also remove lib, no longer needed? [y/N]") || !strings.Contains(errOut, "not confirmed; nothing changed") {
		t.Fatalf("answer n: exit %d, stderr %q", exit, errOut)
	}
	if list := r.client1("list", "--installed"); !strings.Contains(list, "app ") || !strings.Contains(list, "lib ") {
		t.Fatalf("after answering n:\n%s", list)
	}
	if _, errOut, exit := r.typedAs("dist-client", "client1", "client1.yaml", "y\n", "uninstall", "--cascade", "app"); exit != 0 {
		t.Fatalf("answer y: exit %d, stderr %q", exit, errOut)
	}
	if list := r.client1("list", "--installed"); strings.Contains(list, "lib ") {
		t.Fatalf("after answering y:\n%s", list)
	}
}

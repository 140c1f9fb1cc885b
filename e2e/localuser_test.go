package e2e

// Another local user against a root client that installs system-wide:
// what that user can change in the prefix must not lead root's commands
// elsewhere (docs/HOSTILE-NETWORKS.md, "Another user of the machine").

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// serviceUID owns the service's directory: a uid without a passwd entry,
// so that the test needs no useradd.
const serviceUID = 4242

// asUser runs a shell script as uid, with no supplementary groups.
func asUser(t *testing.T, uid int, script string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as uid %d: %s: %v\n%s", uid, script, err, out)
	}
}

// TestServiceDirSymlinkSwap: a package's install.sh gives a directory to a
// service's user, as packages of daemons do. That user put a symlink where
// a subdirectory of it was, and root's uninstall renamed the file the
// symlink led to (an attacker's run: a root-owned passwd in a directory
// standing for /etc became passwd.distpac-save), and root's install placed the package's file
// in a directory of the user's choosing. Now such a path is left in place
// by uninstall, with a warning, and refused by install; the files the
// user cannot redirect go as before.
func TestServiceDirSymlinkSwap(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a root client and a second user")
	}
	r := newRig(t, "")
	// The other user must reach the prefix, as it reaches /opt.
	for _, d := range []string{filepath.Dir(r.h.work), r.h.work} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pkg := r.path("pkgs", "svc-1.0.0")
	r.writeFiles(pkg, map[string]string{
		"manifest.yaml": "name: svc\nversion: 1.0.0\n",
		"scripts/install.sh": fmt.Sprintf(`set -eu
d="$DISTPAC_DESTDIR$DISTPAC_PREFIX/var/lib/svc"
mkdir -p "$d/sub"
echo default > "$d/sub/conf"
echo state > "$d/state"
chown -R %d:%d "$d"
`, serviceUID, serviceUID),
	})
	r.server("add", pkg)
	r.server("start")
	r.client1("sync")
	r.client1("install", "svc")

	svc := filepath.Join(r.path("prefix1"), "var", "lib", "svc")
	victim := r.path("victim") // root's files, as /etc
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "conf"), []byte("root's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	asUser(t, serviceUID, fmt.Sprintf("cd %s && mv sub sub.old && ln -s %s sub", svc, victim))

	out := r.client1("uninstall", "svc")
	if !strings.Contains(out, filepath.Join(svc, "sub", "conf")+" of svc 1.0.0 left in place: its directory "+filepath.Join(svc, "sub")+" is under "+svc+", which is owned by uid 4242") {
		t.Errorf("uninstall does not say why it left sub/conf:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(victim, "conf")); err != nil || string(b) != "root's\n" {
		t.Errorf("root's file behind the symlink: %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(victim); len(ents) != 1 {
		t.Errorf("the uninstall changed the directory behind the symlink: %v", ents)
	}
	if _, err := os.Lstat(filepath.Join(svc, "state")); !os.IsNotExist(err) {
		t.Errorf("state, which the user cannot redirect, was not removed: %v", err)
	}

	// Installed again, with the symlink leading to an empty directory of
	// root's: the package's file went there.
	empty := r.path("empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	asUser(t, serviceUID, fmt.Sprintf("ln -sfn %s %s", empty, filepath.Join(svc, "sub")))
	out, err := r.try("dist-client", "client1", "client1.yaml", "install", "svc")
	if err == nil || !strings.Contains(out, "var/lib/svc/sub/conf: its directory "+filepath.Join(svc, "sub")+" is under "+svc+", which is owned by uid 4242") ||
		!strings.Contains(out, "nothing was changed") {
		t.Errorf("install through the user's symlink: %v\n%s", err, out)
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Errorf("the install wrote behind the symlink: %v", ents)
	}
}

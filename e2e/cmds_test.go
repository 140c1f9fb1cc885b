package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/distpac/distpac/internal/catalogclient"

	_ "modernc.org/sqlite" // sqlexec
)

// stateKey finds a script's *scriptState in testscript's Values.
type stateKey struct{}

// scriptState is what the custom commands remember between lines of one
// script.
type scriptState struct {
	lastExit int // exit status of the last server/client1/client2 command
}

func stateOf(ts *testscript.TestScript) *scriptState {
	return ts.Value(stateKey{}).(*scriptState)
}

// commands are the custom script commands. The wrappers exec the real
// binaries; the helpers only prepare inputs and check outputs.
func commands() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"server":      wrapper("dist-server", "SERVER_HOME", "SERVER_CONFIG"),
		"client1":     wrapper("dist-client", "CLIENT1_HOME", "CLIENT1_CONFIG"),
		"client2":     wrapper("dist-client", "CLIENT2_HOME", "CLIENT2_CONFIG"),
		"exitcode":    cmdExitcode,
		"mkpkg":       cmdMkpkg,
		"cmpfiles":    cmdCmpfiles,
		"waitfor":     cmdWaitfor,
		"torrentfile": cmdTorrentfile,
		"flipbyte":    cmdFlipbyte,
		"httpget":     cmdHTTPGet,
		"killpids":    cmdKillpids,
		"truncate":    cmdTruncate,
		"sqlexec":     cmdSQLExec,
		"serial":      cmdSerial,
	}
}

// httpget URL: GET the URL and print the body; a status other than 200
// fails (or, negated, is required).
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: httpget URL")
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(args[0])
	if err != nil {
		ts.Fatalf("httpget %s: %v", args[0], err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		ts.Fatalf("httpget %s: %v", args[0], err)
	}
	ts.Stdout().Write(body)
	ok := resp.StatusCode == http.StatusOK
	if ok == neg {
		ts.Fatalf("httpget %s: %s", args[0], resp.Status)
	}
}

// wrapper runs binary with XDG_DATA_HOME=$homeVar and --config $configVar
// prepended to the arguments, the way a user with that installation types
// it. stdout and stderr are kept for the stdout/stderr commands and the exit
// status for exitcode. Changing $configVar (env CLIENT1_CONFIG=...) points
// the same installation at another configuration.
func wrapper(binary, homeVar, configVar string) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		prev := ts.Getenv("XDG_DATA_HOME")
		ts.Setenv("XDG_DATA_HOME", ts.Getenv(homeVar))
		err := ts.Exec(binary, append([]string{"--config", ts.Getenv(configVar)}, args...)...)
		ts.Setenv("XDG_DATA_HOME", prev)
		st := stateOf(ts)
		st.lastExit = 0
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			st.lastExit = ee.ExitCode()
		case err != nil:
			ts.Fatalf("%s: %v", binary, err)
		}
		if neg && err == nil {
			ts.Fatalf("%s %s: unexpected success", binary, strings.Join(args, " "))
		}
		if !neg && err != nil {
			ts.Fatalf("%s %s: %v", binary, strings.Join(args, " "), err)
		}
	}
}

// exitcode N: the last server/client1/client2 command exited with status N.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: exitcode N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	if got := stateOf(ts).lastExit; got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

// mkpkg [-depends DEP]... [-conflicts DEP]... [-fail-install N] [-old-contract]
// [-dir DIR] NAME VERSION [SIZE] writes the package directory DIR (default
// pkgs/NAME-VERSION): a manifest, assets/data.bin of SIZE pseudo-random
// bytes (default 1KiB; seeded by name and version, so the same call gives
// the same package), an install.sh that stages the assets and a file
// VERSION (so a script can tell which version's install.sh ran) as
// $DISTPAC_PREFIX/NAME/ under $DISTPAC_DESTDIR, and an uninstall.sh that
// appends "NAME VERSION" to $DISTPAC_PREFIX/uninstalled.log (so a script can
// tell which version's uninstall.sh ran; distpac removes the files).
// -depends and -conflicts may be repeated. With -fail-install N, install.sh
// stages the assets, then exits with status N. With -old-contract the
// scripts are of the old contract: install.sh copies straight into
// $DISTPAC_PREFIX/NAME and uninstall.sh removes it.
func cmdMkpkg(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("mkpkg", flag.ContinueOnError)
	var depends, conflicts []string
	var dir string
	var failInstall int
	var oldContract bool
	fs.BoolVar(&oldContract, "old-contract", false, "scripts that write straight into $DISTPAC_PREFIX")
	fs.Func("depends", "a dependency, e.g. 'libfoo ^1.0' (repeatable)", func(s string) error {
		depends = append(depends, s)
		return nil
	})
	fs.Func("conflicts", "a conflict, e.g. 'tool <2' (repeatable)", func(s string) error {
		conflicts = append(conflicts, s)
		return nil
	})
	fs.IntVar(&failInstall, "fail-install", 0, "make install.sh exit with this status")
	fs.StringVar(&dir, "dir", "", "where to write the package")
	if neg || fs.Parse(args) != nil || fs.NArg() < 2 || fs.NArg() > 3 {
		ts.Fatalf("usage: mkpkg [-depends DEP]... [-conflicts DEP]... [-fail-install N] [-old-contract] [-dir DIR] NAME VERSION [SIZE]")
	}
	name, version := fs.Arg(0), fs.Arg(1)
	size := int64(1024)
	if fs.NArg() == 3 {
		n, err := strconv.ParseInt(fs.Arg(2), 10, 64)
		ts.Check(err)
		size = n
	}
	if dir == "" {
		dir = filepath.Join("pkgs", name+"-"+version)
	}
	dir = ts.MkAbs(dir)
	manifest := fmt.Sprintf("name: %s\nversion: %s\ndescription: test package %s of %d bytes\n", name, version, name, size)
	for _, l := range []struct {
		key  string
		deps []string
	}{{"depends", depends}, {"conflicts", conflicts}} {
		if len(l.deps) > 0 {
			manifest += l.key + ":\n"
			for _, d := range l.deps {
				manifest += fmt.Sprintf("  - %q\n", d)
			}
		}
	}
	root := "$DISTPAC_DESTDIR$DISTPAC_PREFIX"
	if oldContract {
		root = "$DISTPAC_PREFIX"
	}
	install := fmt.Sprintf("#!/bin/sh\nset -eu\nmkdir -p \"%[2]s/%[1]s\"\ncp -R \"$DISTPAC_ASSETS/.\" \"%[2]s/%[1]s/\"\necho \"$DISTPAC_VERSION\" > \"%[2]s/%[1]s/VERSION\"\n", name, root)
	if failInstall != 0 {
		install += fmt.Sprintf("echo \"%[1]s $DISTPAC_VERSION: failing on purpose\" >&2\nexit %[2]d\n", name, failInstall)
	} else {
		install += fmt.Sprintf("echo \"%s $DISTPAC_VERSION: installed\"\n", name)
	}
	uninstall := fmt.Sprintf("#!/bin/sh\nset -eu\necho \"%[1]s $DISTPAC_VERSION\" >> \"$DISTPAC_PREFIX/uninstalled.log\"\necho \"%[1]s: uninstall.sh ran\"\n", name)
	if oldContract {
		uninstall = fmt.Sprintf("#!/bin/sh\nset -eu\nrm -rf \"$DISTPAC_PREFIX/%[1]s\"\necho \"%[1]s $DISTPAC_VERSION\" >> \"$DISTPAC_PREFIX/uninstalled.log\"\necho \"%[1]s: removed\"\n", name)
	}
	for _, f := range []struct {
		path, text string
		mode       os.FileMode
	}{
		{"manifest.yaml", manifest, 0o644},
		{"scripts/install.sh", install, 0o755},
		{"scripts/uninstall.sh", uninstall, 0o755},
	} {
		p := filepath.Join(dir, f.path)
		ts.Check(os.MkdirAll(filepath.Dir(p), 0o755))
		ts.Check(os.WriteFile(p, []byte(f.text), f.mode))
	}
	ts.Check(os.MkdirAll(filepath.Join(dir, "assets"), 0o755))
	ts.Check(writeRandom(filepath.Join(dir, "assets", "data.bin"), name+"@"+version, size))
}

// writeRandom writes size bytes that do not compress, fast (ChaCha8).
func writeRandom(path, seed string, size int64) error {
	h := fnv.New64a()
	h.Write([]byte(seed))
	var key [32]byte
	copy(key[:], h.Sum(nil))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.NewChaCha8(key), size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cmpfiles A B: the two files have the same bytes. Unlike cmp it streams
// and reports the first differing offset instead of a diff, which suits
// large binary files.
func cmpfiles(a, b string) error {
	fa, err := os.Open(a)
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return err
	}
	defer fb.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	var off int64
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if i := firstDiff(ba[:na], bb[:nb]); i >= 0 {
			return fmt.Errorf("%s and %s differ at byte %d", a, b, off+int64(i))
		}
		off += int64(na)
		endA := ea == io.EOF || ea == io.ErrUnexpectedEOF
		endB := eb == io.EOF || eb == io.ErrUnexpectedEOF
		if ea != nil && !endA {
			return ea
		}
		if eb != nil && !endB {
			return eb
		}
		if endA || endB {
			return nil
		}
	}
}

// firstDiff is the first index where a and b differ (a shorter slice
// differs at its end), or -1.
func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func cmdCmpfiles(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: cmpfiles A B")
	}
	err := cmpfiles(ts.MkAbs(args[0]), ts.MkAbs(args[1]))
	if neg && err == nil {
		ts.Fatalf("%s and %s are identical", args[0], args[1])
	}
	if !neg {
		ts.Check(err)
	}
}

// waitfor [-timeout D] CONDITION waits until CONDITION holds, or fails
// the script after D (default 30s). Conditions:
//
//	listen HOST:PORT      something accepts TCP connections there
//	file PATH             PATH exists
//	status FIELD MIN      dist-server status --json of $SERVER_HOME shows FIELD >= MIN
//	grep FILE REGEXP      FILE (a log) has a line matching REGEXP
func cmdWaitfor(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("waitfor", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 30*time.Second, "")
	if neg || fs.Parse(args) != nil || fs.NArg() < 2 {
		ts.Fatalf("usage: waitfor [-timeout D] listen ADDR | file PATH | status FIELD MIN | http URL REGEXP | grep FILE REGEXP")
	}
	args = fs.Args()
	var check func() error
	switch {
	case args[0] == "listen" && len(args) == 2:
		ts.Check(waitTCP(args[1], *timeout))
		return
	case args[0] == "file" && len(args) == 2:
		path := ts.MkAbs(args[1])
		check = func() error { _, err := os.Stat(path); return err }
	case args[0] == "http" && len(args) == 3:
		re, err := regexp.Compile(args[2])
		ts.Check(err)
		c := &http.Client{Timeout: 5 * time.Second}
		check = func() error {
			resp, err := c.Get(args[1])
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			if err != nil {
				return err
			}
			if !re.Match(body) {
				return fmt.Errorf("%s (%s) does not match %s", args[1], resp.Status, args[2])
			}
			return nil
		}
	case args[0] == "grep" && len(args) == 3:
		re, err := regexp.Compile("(?m)" + args[2])
		ts.Check(err)
		path := ts.MkAbs(args[1])
		check = func() error {
			b, err := os.ReadFile(path)
			if err == nil && !re.Match(b) {
				err = fmt.Errorf("no line of %s matches %s", path, args[2])
			}
			return err
		}
	case args[0] == "status" && len(args) == 3:
		want, err := strconv.ParseFloat(args[2], 64)
		ts.Check(err)
		check = func() error { return statusAtLeast(ts, args[1], want) }
	default:
		ts.Fatalf("waitfor: unknown condition %q", strings.Join(args, " "))
	}
	deadline := time.Now().Add(*timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfor %s: still false after %s: %v", strings.Join(args, " "), *timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// statusAtLeast runs the real dist-server status --json and compares one
// numeric field.
func statusAtLeast(ts *testscript.TestScript, field string, want float64) error {
	cmd := exec.Command(filepath.Join(binDir, "dist-server"), "--config", ts.Getenv("SERVER_CONFIG"), "status", "--json")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+ts.Getenv("SERVER_HOME"))
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("dist-server status: %w", err)
	}
	var st map[string]any
	if err := json.Unmarshal(out, &st); err != nil {
		return fmt.Errorf("dist-server status --json: %w", err)
	}
	got, ok := st[field].(float64)
	if !ok {
		return fmt.Errorf("dist-server status --json has no number %q: %s", field, out)
	}
	if got < want {
		return fmt.Errorf("%s is %v, want >= %v", field, got, want)
	}
	return nil
}

// torrentfile CLIENT NAME VERSION FILE writes the .torrent of NAME@VERSION
// from the catalog that CLIENT (client1 or client2) last synced, for
// BitTorrent clients that cannot take the catalog's magnet alone.
func cmdTorrentfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: torrentfile CLIENT NAME VERSION FILE")
	}
	home := ts.Getenv(strings.ToUpper(args[0]) + "_HOME")
	if home == "" {
		ts.Fatalf("torrentfile: unknown client %q", args[0])
	}
	ctx := context.Background()
	db, err := catalogclient.Open(ctx, filepath.Join(home, "distpac", "client"))
	ts.Check(err)
	defer db.Close()
	p, err := db.Get(ctx, args[1], args[2])
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[3]), p.Torrent, 0o644))
}

// flipbyte FILE [OFFSET] inverts the bits of one byte (default: the middle
// one), as corruption or tampering would.
func cmdFlipbyte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: flipbyte FILE [OFFSET]")
	}
	path := ts.MkAbs(args[0])
	b, err := os.ReadFile(path)
	ts.Check(err)
	if len(b) == 0 {
		ts.Fatalf("flipbyte: %s is empty", path)
	}
	off := len(b) / 2
	if len(args) == 2 {
		off, err = strconv.Atoi(args[1])
		ts.Check(err)
		if off < 0 || off >= len(b) {
			ts.Fatalf("flipbyte: offset %d outside %s (%d bytes)", off, path, len(b))
		}
	}
	b[off] ^= 0xff
	ts.Check(os.WriteFile(path, b, 0o644))
}

// readPID reads the pid from a server.json.
func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var info struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if info.PID <= 0 {
		return 0, fmt.Errorf("%s: no pid", path)
	}
	return info.PID, nil
}

// killpids FILE: every pid listed in FILE (one a line, written by a
// script's background job) is a running process, which is then killed.
// Only processes whose command line names sleep are touched, so a reused
// pid is never killed.
func cmdKillpids(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: killpids FILE")
	}
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		ts.Check(err)
		// $! is known to the script as soon as it forks: the child may not
		// have exec'd sleep yet on a busy machine. Wait for it a while; a
		// job that is gone (no /proc entry, or a zombie's empty cmdline)
		// still fails, with what /proc says.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err == nil && strings.Contains(string(cmdline), "sleep") {
				break
			}
			if err != nil || time.Now().After(deadline) {
				stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
				ts.Fatalf("background job %d is not running (cmdline %q, err %v; stat %q)", pid, cmdline, err, stat)
			}
		}
		ts.Check(syscall.Kill(pid, syscall.SIGKILL))
	}
}

// truncate FILE SIZE cuts FILE to SIZE bytes, as a crash of a tool that
// does not write atomically, or a full disk, would.
func cmdTruncate(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: truncate FILE SIZE")
	}
	n, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	ts.Check(os.Truncate(ts.MkAbs(args[0]), n))
}

// sqlexec FILE STATEMENT runs one SQL statement on the SQLite database
// FILE, as an operator's sqlite3 would: a connection of its own.
func cmdSQLExec(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: sqlexec FILE STATEMENT")
	}
	db, err := sql.Open("sqlite", "file:"+ts.MkAbs(args[0])+"?_busy_timeout=10000")
	ts.Check(err)
	defer db.Close()
	_, err = db.Exec(args[1])
	ts.Check(err)
}

package servercli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"
	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/server"
	"github.com/distpac/distpac/internal/swarm"
)

type startOptions struct {
	foreground                      bool
	noTracker, noSeeder, noDatabase bool
	timeout                         time.Duration
	json                            bool
}

func newStart(e *env) *cobra.Command {
	var o startOptions
	c := &cobra.Command{
		Use:   "start",
		Short: "Start the catalog server, tracker and seeder",
		Long: `start runs the catalog HTTP server (database_addr), the embedded BitTorrent tracker
(tracker_addr, announce at /announce) and the seeder for every published package
(peer_addr). It returns once every component listens and the seeder has checked every
archive (dist-server status says how far that check is meanwhile), printing their
addresses, and leaves the server running in the background (log in server.log); with
--foreground it stays attached until interrupted, for systemd and tests. Every address
is opened before anything starts: those another program holds are named at once, each
with its key and the server.yaml that sets it.`,
		Example: `  dist-server start
  dist-server start --foreground --no-tracker   # announce_url points at another tracker (opentracker: see tracker_whitelist)`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStart(cmd.Context(), e, o, args)
		},
	}
	c.Flags().BoolVar(&o.foreground, "foreground", false, "stay attached instead of running in the background")
	c.Flags().BoolVar(&o.noTracker, "no-tracker", false, "do not run the embedded tracker")
	c.Flags().BoolVar(&o.noSeeder, "no-seeder", false, "do not seed packages")
	c.Flags().BoolVar(&o.noDatabase, "no-database", false, "do not serve the catalog over HTTP")
	c.Flags().DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long start waits for the background server to be ready")
	c.Flags().BoolVar(&o.json, "json", false, "print the addresses as JSON once ready")
	return c
}

func runStart(ctx context.Context, e *env, o startOptions, _ []string) error {
	cfg, sp, err := e.config()
	if err != nil {
		return err
	}
	if o.noTracker && o.noSeeder && o.noDatabase {
		return cli.Usagef("--no-tracker, --no-seeder and --no-database together leave nothing to run")
	}
	if pid, running := runningPID(sp); running {
		return alreadyRunning(sp, "start", pid)
	}
	// start would make a signing key and an empty catalog here, and serve
	// them in place of the primary's.
	if err := refuseInMirrorHome(sp, "start", "run dist-server mirror URL to serve it (status and stop work on it); start runs a primary, in a data home of its own"); err != nil {
		return err
	}
	if !o.foreground {
		args := []string{"start"}
		for flag, on := range map[string]bool{"--no-tracker": o.noTracker, "--no-seeder": o.noSeeder, "--no-database": o.noDatabase} {
			if on {
				args = append(args, flag)
			}
		}
		return startBackground(ctx, e, sp, args, nil, o.timeout, func(info server.Info, log string) { printInfo(e, o.json, info, log) })
	}
	// Start-time warnings are said here, by the process that runs the
	// server: on the terminal in the foreground, into server.log in the
	// background, from where start relays them (startBackground).
	warnTorrents(ctx, e, cfg, sp)
	cfgPath, _ := e.configFile()
	if cfgPath != "" {
		for _, w := range cfg.AnnouncePathWarnings(cfgPath) {
			e.UI.Warnf("%s\n", w)
		}
	}
	// A running server's log says what it serves and seeds.
	logger := e.LoggerAt(slog.LevelInfo)
	swarm.GovernProcs(ctx)
	return server.Run(ctx, server.Options{
		Paths: sp, Config: cfg, ConfigPath: cfgPath, Logger: logger,
		NoTracker: o.noTracker, NoSeeder: o.noSeeder, NoDatabase: o.noDatabase,
		Ready: func(info server.Info) { printInfo(e, o.json, info, "") },
	})
}

func printInfo(e *env, asJSON bool, info server.Info, logPath string) {
	if asJSON {
		e.UI.JSON(struct {
			server.Info
			Log string `json:"log,omitempty"`
		}{info, logPath})
		return
	}
	if len(info.MirrorOf) > 0 {
		e.UI.Printf("dist-server mirror running (pid %d), following %s\n", info.PID, strings.Join(info.MirrorOf, ", "))
	} else {
		e.UI.Printf("dist-server running (pid %d)\n", info.PID)
	}
	// What listens where, as bound: an unspecified host is every address
	// of the machine, which is what the defaults (":9090") mean.
	line := func(name, url, listen string) {
		if listen == "" {
			return
		}
		e.UI.Printf("  %-8s listening on %s, %s\n", name+":", describeListen(listen), url)
	}
	line("catalog", info.Database, info.Listen["catalog"])
	line("tracker", info.Tracker, info.Listen["tracker"])
	// Registered in the embedded tracker; otherwise (a mirror, start
	// --no-tracker) it announces to the trackers the torrents name, which
	// may be down: "announced to the torrents' trackers" and "registered
	// as" said of those was more than the start knew (an operator's run).
	if info.Tracker != "" {
		line("seeder", "registered as "+info.Peer, info.Listen["seeder"])
	} else {
		line("seeder", "announces to the torrents' trackers as "+info.Peer, info.Listen["seeder"])
	}
	line("metrics", info.Metrics, info.Listen["metrics"])
	if logPath != "" {
		e.UI.Printf("  log:     %s\n", logPath)
	}
}

// startBackground re-runs this binary with args and --foreground in a new
// session (args[0] is the command: start or mirror), with env added to its
// environment, its output going to server.log, and waits until it
// reports ready, then calls ready. The warnings the server said at
// start-up (relayWarnings) are shown on stderr first, whether it got
// ready or exited: the server process is the one that says them, so they
// are in the log once and on the terminal once. Said by this process too,
// they were said twice, in two places that drifted (a mirror's ignored
// keys were never in the log, nor said by mirror --foreground).
func startBackground(ctx context.Context, e *env, sp paths.Server, args, env []string, timeout time.Duration, ready func(server.Info, string)) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if err := os.MkdirAll(sp.Dir, 0o755); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	logf, err := os.OpenFile(sp.Log(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start: log file: %w", err)
	}
	defer logf.Close()
	// Every run appends to the log: this run's output starts here.
	var logStart int64
	if st, err := logf.Stat(); err == nil {
		logStart = st.Size()
	}
	args = append(slices.Clone(args), "--foreground")
	if e.Config != "" {
		args = append(args, "--config", e.Config)
	}
	if e.Verbosity > 0 {
		args = append(args, "-"+strings.Repeat("v", e.Verbosity))
	}
	if e.Quiet {
		args = append(args, "-q") // the log then holds errors only
	}
	cmd := exec.Command(exe, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...) // the last of a name wins
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			relayWarnings(e, sp.Log(), logStart)
			return startupError(args[0], err, sp.Log(), logStart)
		case <-deadline:
			cmd.Process.Signal(syscall.SIGTERM)
			relayWarnings(e, sp.Log(), logStart)
			return fmt.Errorf("%s: the server was not ready after %s; see %s", args[0], timeout, sp.Log())
		case <-ctx.Done():
			cmd.Process.Signal(syscall.SIGTERM)
			return ctx.Err()
		case <-tick.C:
			// A mirror writes server.json once it serves its catalog,
			// and again when its archives' downloads have been tried;
			// a publisher once status answers, and again when its
			// archives are checked.
			info, err := readInfo(sp)
			if err == nil && info.PID == cmd.Process.Pid && !info.Starting() {
				relayWarnings(e, sp.Log(), logStart)
				ready(info, sp.Log())
				return nil
			}
		}
	}
}

// describeListen says where a bound address accepts connections.
func describeListen(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	switch {
	case err != nil:
		return addr
	case ap.Addr().IsUnspecified():
		return fmt.Sprintf("port %d of every address", ap.Port())
	case ap.Addr().IsLoopback():
		return addr + " (this machine only)"
	}
	return addr
}

// startupError says why the background server of command (start or
// mirror) exited before it was ready, from what it wrote to the log at
// logPath from offset on: this run's output, not the earlier runs' the
// log also holds. The server's own error line ("dist-server: mirror:
// why", after the warnings it logged on the way, which repeat the cause)
// is the cause, once; its hint line comes along. A server that wrote no
// such line (killed, a panic) is described by how it exited and its last
// lines of output.
func startupError(command string, exit error, logPath string, offset int64) error {
	lines := logSince(logPath, offset)
	hint := "see " + logPath
	for i := len(lines) - 1; i >= 0; i-- {
		why, ok := strings.CutPrefix(lines[i], prog+": ")
		if !ok {
			continue
		}
		why = strings.TrimPrefix(why, command+": ")
		if i+1 < len(lines) {
			if h, ok := strings.CutPrefix(lines[i+1], "hint: "); ok {
				hint = h + " (log: " + logPath + ")"
			}
		}
		return cli.WithHint(fmt.Errorf("%s: the server exited during start-up: %s", command, why), hint)
	}
	why := "no output"
	if len(lines) > 0 {
		why = strings.Join(lines[max(0, len(lines)-3):], " | ")
	}
	return cli.WithHint(fmt.Errorf("%s: the server exited during start-up (%v): %s", command, exit, why), hint)
}

// maxStartupLog bounds what startupError reads of a run's output: the
// error is at its end, and a server run with -vv logs a lot before it.
const maxStartupLog = 64 << 10

// logSince returns the non-empty lines written to the file at path from
// offset on (all of it when the file is now shorter: it was rotated), at
// most the last maxStartupLog bytes of them.
func logSince(path string, offset int64) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	if st.Size() < offset {
		offset = 0
	}
	offset = max(offset, st.Size()-maxStartupLog)
	b, err := io.ReadAll(io.NewSectionReader(f, offset, st.Size()-offset))
	if err != nil {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func readInfo(sp paths.Server) (server.Info, error) {
	var info server.Info
	b, err := fsutil.ReadRegular(sp.PIDFile(), maxInfoSize, true)
	if err != nil {
		return info, err
	}
	return info, json.Unmarshal(b, &info)
}

// maxInfoSize bounds the server.json read: the server writes a few
// hundred bytes.
const maxInfoSize = 1 << 20

// alreadyRunning refuses a start or mirror (verb) where the server pid
// runs, saying what it is as status does: a mirror, and of what. Both
// said "a server is already running" of a mirror (a newcomer's run).
func alreadyRunning(sp paths.Server, verb string, pid int) error {
	what := ""
	if info, err := readInfo(sp); err == nil && info.PID == pid && len(info.MirrorOf) > 0 {
		what = ", a mirror of " + strings.Join(info.MirrorOf, ", ")
	}
	return cli.WithHint(fmt.Errorf("%s: %w (pid %d%s)", verb, server.ErrRunning, pid, what), "dist-server status shows it; dist-server stop stops it")
}

// runningPID tells whether a server holds the run lock, and its pid. A
// server.json left by a killed server does not count: the kernel released
// its lock. The pid is the lock holder's in the kernel's table of locks:
// server.json is written only once the server is ready, so during a
// start-up after a kill -9 it was the dead server's, and stop signalled
// that pid (or whatever process reused it). Where the table cannot be
// read, server.json's pid, which a starting server removes.
func runningPID(sp paths.Server) (int, bool) {
	// Shared: the check must not itself look like a holder to a
	// concurrent stop.
	fl := flock.New(sp.RunLock())
	ok, err := fl.TryRLock()
	if err == nil && ok {
		fl.Unlock()
		return 0, false
	}
	if errors.Is(err, os.ErrNotExist) {
		return 0, false
	}
	if pid := fsutil.LockHolder(sp.RunLock()); pid > 0 {
		return pid, true
	}
	info, _ := readInfo(sp)
	return info.PID, true
}

// Bounds of relayWarnings: the warnings come first in a run's output but
// for a mirror's pinned key, after its first sync, which logs a lot with
// -vv; a line longer than maxLogLine ends the scan.
const (
	maxWarningScan = 8 << 20
	maxLogLine     = 64 << 10
	maxWarnings    = 100
)

// relayWarnings shows on stderr the warnings ("warning: " lines and the
// indented lines that continue them) written to the log at logPath from
// offset on: a background server's start-up warnings, said once into the
// log by the server and shown once on the terminal by the start that
// launched it.
func relayWarnings(e *env, logPath string, offset int64) {
	f, err := os.Open(logPath)
	if err != nil {
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() < offset {
		offset = 0 // rotated: all of it is this run's
	}
	sc := bufio.NewScanner(io.NewSectionReader(f, offset, maxWarningScan))
	sc.Buffer(make([]byte, 0, 4096), maxLogLine)
	var out strings.Builder
	flush := func() {
		if out.Len() > 0 {
			e.UI.Warnf("%s", out.String())
			out.Reset()
		}
	}
	in, n := false, 0
	for sc.Scan() && n < maxWarnings {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "warning: "):
			flush()
			in = true
			n++
			out.WriteString(strings.TrimPrefix(line, "warning: ") + "\n")
		case in && line != "" && (line[0] == ' ' || line[0] == '\t'):
			out.WriteString(line + "\n")
		default:
			flush()
			in = false
		}
	}
	flush()
}

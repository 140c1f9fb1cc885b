package namedfile

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/connlimit"
)

const name = "named-file-server"

const usage = `Usage: named-file-server [--socket ADDR] FILE...

Serves each FILE at http://ADDR/<basename> and nothing else: no directory
listing, no other paths. GET and HEAD only, with Range, ETag and
If-Modified-Since. Each file is opened per request, so a file replaced by
rename is served fresh. Flags may come before or after the files; after
"--" every argument is a file.

Flags:
  --socket ADDR   where to listen (default ":8080"): host:port, or a unix
                  socket as unix:/path/to.sock (any ADDR containing "/" is
                  taken as a unix socket path)
  -h, --help      show this help

Stops cleanly on SIGINT or SIGTERM. Exit status: 0 ok, 1 failure, 2 usage.
`

// parseArgs parses flags wherever they stand among the file names (the
// flag package alone stops at the first file) and returns the files; after
// "--" every argument is a file.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var files []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(files, rest...), nil
		}
		if len(rest) == 0 {
			break
		}
		files = append(files, rest[0])
		args = rest[1:]
	}
	return files, nil
}

// shutdownGrace bounds how long a stop waits for responses in flight
// before cutting them off.
const shutdownGrace = 10 * time.Second

// Main runs named-file-server with args (without the program name) until
// ctx is cancelled, and returns the exit status. The caller turns signals
// into ctx cancellation; a stop by signal is a success.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed below, as one line
	socket := fs.String("socket", ":8080", "")
	files, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "%s: bad arguments: %v (see %s --help)\n", name, err, name)
		return 2
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "%s: bad arguments: no FILE given (see %s --help)\n", name, name)
		return 2
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := New(files, log)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	ln, where, err := listen(*socket)
	if err != nil {
		fmt.Fprintf(stderr, "%s: listen on %s: %v\n", name, *socket, err)
		return 1
	}
	srv := connlimit.NewHTTPServer(h, log)
	if strings.HasPrefix(where, "http://") {
		// Public like dist-server's listeners, and bounded as they are:
		// 256 connections from one address, 4,096 in all, idle
		// keep-alive connections closed first to make room (connlimit).
		lim := connlimit.Wrap(ln, connlimit.Options{Name: "files", Logger: log})
		lim.Bind(srv)
		ln = lim
	}

	noun := "files"
	if h.Len() == 1 {
		noun = "file"
	}
	fmt.Fprintf(stdout, "%s: serving %d %s on %s\n", name, h.Len(), noun, where)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		fmt.Fprintf(stderr, "%s: serve: %v\n", name, err)
		return 1
	case <-ctx.Done():
	}

	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		// Downloads still running after the grace period are cut off; the
		// stop itself was asked for, so this is not a failure.
		srv.Close()
		log.Warn("stopped with responses still in flight", "err", err)
	}
	<-served
	return 0
}

// listen opens the listener for --socket and says where it is, as a URL for
// TCP (with the real port when ADDR asked for port 0) or as unix:PATH.
func listen(addr string) (net.Listener, string, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok || strings.Contains(addr, "/") {
		if !ok {
			path = addr
		}
		ln, err := net.Listen("unix", path)
		if err != nil {
			return nil, "", err
		}
		return ln, "unix:" + path, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	return ln, "http://" + ln.Addr().String(), nil
}

// compile-time check that Handler is what the server expects.
var _ http.Handler = (*Handler)(nil)

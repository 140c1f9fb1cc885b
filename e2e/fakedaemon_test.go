package e2e

import (
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFakeDaemonTextShownEscaped: whatever answers on the daemon's socket
// (a fake daemon of the same user, a buggy one) is another process, and
// the install printed its words to the terminal as they came: an escape
// sequence that clears the screen, a carriage return that writes over the
// line, a bell, and lines of thousands of bytes, in the busy web seed's
// warning and the download's error (and a refusal's body). They are now
// shown escaped and cut, and honest words of a daemon (none of this)
// pass unchanged (the other stories).
func TestFakeDaemonTextShownEscaped(t *testing.T) {
	const hostile = "\x1b[2J\x1b[31mPWNED\x1b[0m\r\a"
	for _, tc := range []struct {
		name     string
		download http.HandlerFunc
		want     []string
	}{
		{"events", func(w http.ResponseWriter, _ *http.Request) {
			enc := json.NewEncoder(w)
			enc.Encode(map[string]any{"total": 100, "busy": map[string]any{
				"seed": "http://evil.example/" + hostile, "said": "HTTP 503 " + hostile + strings.Repeat("A", 3000), "for_ns": int64(time.Minute)}})
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
			enc.Encode(map[string]any{"error": "download failed: " + hostile + strings.Repeat("B", 5000)})
		}, []string{`web seed "http://evil.example/\x1b[2J\x1b[31mPWNED\x1b[0m\r\a" is busy: it answered "HTTP 503 \x1b[2J`, `AAA"…(3029 bytes)`,
			`dist-client: daemon: "download failed: \x1b[2J\x1b[31mPWNED\x1b[0m\r\aBBB`, `BBB"…(5037 bytes)`}},
		{"a refusal's body", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, "bad request: "+hostile+"\n")
		}, []string{`dist-client: daemon: "bad request: \x1b[2J\x1b[31mPWNED\x1b[0m\r\a"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "")
			r.server("add", r.mkpkg("target", "1.0.0", 4<<10))
			r.server("start")
			r.client1("sync")

			sock := filepath.Join(r.clientDir("client1"), "daemon.sock")
			ln, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"pid": 1}`) })
			mux.HandleFunc("POST /download", tc.download)
			srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)}
			go srv.Serve(ln)
			defer srv.Close()

			out, err := r.try("dist-client", "client1", "client1.yaml", "install", "target")
			if err == nil {
				t.Fatalf("install through a daemon that fails it worked:\n%s", out)
			}
			t.Logf("install through the fake daemon:\n%s", out)
			if i := strings.IndexAny(out, "\x1b\r\a"); i >= 0 {
				t.Errorf("the install printed the daemon's control characters raw, at byte %d: %q", i, out[max(0, i-40):min(len(out), i+40)])
			}
			for _, line := range strings.Split(out, "\n") {
				if len(line) > 5<<10 {
					t.Errorf("a line of %d bytes: %.80q…", len(line), line)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the install's output lacks %s", w)
				}
			}
			if h := r.client1("history", "--json"); strings.Contains(h, `\u001b`) {
				t.Errorf("history kept the daemon's escape sequence raw:\n%s", h)
			}
			if _, err := os.Stat(sock); err != nil {
				t.Fatal(err)
			}
		})
	}
}

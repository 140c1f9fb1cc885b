package clientcli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/signing"
)

// TestSyncJSON: sync --json lists the servers that failed a sync another
// server served, as the text output warns of each (it did not: a server
// down read as all well), and the servers behind the catalog held; both
// lists are there when empty, as every other key is but pinned_key.
func TestSyncJSON(t *testing.T) {
	expired := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	refused := errors.New("sync: GET http://a:9090/packages.db: dial tcp 127.0.0.1:9090: connect: connection refused")
	tests := []struct {
		name string
		res  catalogclient.Result
		want string
	}{
		{"one server",
			catalogclient.Result{Updated: true, Serial: 3, Packages: 2, Server: "http://a:9090"},
			`{"updated":true,"serial":3,"packages":2,"server":"http://a:9090","behind":[],"failed":[],"passed_over":[]}`},
		{"the first down",
			catalogclient.Result{Serial: 3, Packages: 2, Server: "http://b:9090", Failed: []catalogclient.ServerError{
				{URL: "http://a:9090", Took: 2 * time.Millisecond, Err: refused},
				{URL: "http://c:9090", Took: time.Second, Err: errors.New("http://c:9090 did not answer HTTP (it answered with binary data)")},
			}},
			`{"updated":false,"serial":3,"packages":2,"server":"http://b:9090","behind":[],"failed":[` +
				`{"server":"http://a:9090","error":"GET http://a:9090/packages.db: dial tcp 127.0.0.1:9090: connect: connection refused"},` +
				`{"server":"http://c:9090","error":"http://c:9090 did not answer HTTP (it answered with binary data)"}],"passed_over":[]}`},
		{"kept, one down and one behind",
			catalogclient.Result{Serial: 4, Packages: 2, Failed: []catalogclient.ServerError{{URL: "http://a:9090", Err: refused}},
				Behind: []catalogclient.Behind{{URL: "http://m:9090", Serial: 3, ValidUntil: expired, Stale: true}}},
			`{"updated":false,"serial":4,"packages":2,"server":"","behind":[` +
				`{"server":"http://m:9090","serial":3,"valid_until":"2026-11-01T00:00:00Z","stale":true,"note":"` +
				catalogclient.Behind{URL: "http://m:9090", Serial: 3, ValidUntil: expired, Stale: true}.Note() + `"}],"failed":[` +
				`{"server":"http://a:9090","error":"GET http://a:9090/packages.db: dial tcp 127.0.0.1:9090: connect: connection refused"}],"passed_over":[]}`},
		// The note of the text output: a primary that failed a minute
		// ago is not tried, and "failed" is empty.
		{"the first passed over",
			catalogclient.Result{Serial: 3, Packages: 2, Server: "http://b:9090", Demoted: []catalogclient.Demoted{
				{URL: "http://a:9090", Failed: expired, Until: expired.Add(10 * time.Minute)}}},
			`{"updated":false,"serial":3,"packages":2,"server":"http://b:9090","behind":[],"failed":[],"passed_over":[` +
				`{"server":"http://a:9090","failed_at":"2026-11-01T00:00:00Z","until":"2026-11-01T00:10:00Z"}]}`},
	}
	for _, tt := range tests {
		if got := mustJSON(t, newSyncJSON(tt.res)); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

// TestSyncJSONAllFailed: a sync --json that no server served gives each
// server and why it failed in "failed", as one that some server served
// does, beside the error and hint of cli.Run's {"error", "hint"} (which
// was all it gave: the servers only in the error's lines), and still
// exits 1 with the error line on stderr.
func TestSyncJSONAllFailed(t *testing.T) {
	a, b := "http://"+nettest.Refused(t), "http://"+nettest.Refused(t)
	for _, tt := range []struct {
		name, yaml string
		failed     []string
	}{
		{"two servers", "server_urls: [" + a + ", " + b + "]\n", []string{a, b}},
		{"one server", "server_url: " + a + "\n", []string{a}},
	} {
		home := t.TempDir()
		t.Setenv("XDG_DATA_HOME", home)
		cfg := filepath.Join(home, "client.yaml")
		if err := os.WriteFile(cfg, []byte(tt.yaml+"prefix: "+filepath.Join(home, "prefix")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		code := Main(context.Background(), []string{"--config", cfg, "sync", "--json"}, strings.NewReader(""), &out, &errOut)
		var got struct {
			Error      string            `json:"error"`
			Hint       string            `json:"hint"`
			Behind     []json.RawMessage `json:"behind"`
			Failed     []syncFailed      `json:"failed"`
			PassedOver []json.RawMessage `json:"passed_over"`
		}
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%s: stdout is no JSON object: %v\n%s", tt.name, err, out.String())
		}
		if code != cli.ExitFailure || !strings.HasPrefix(errOut.String(), "dist-client: "+got.Error+"\nhint: "+got.Hint+"\n") ||
			!strings.Contains(got.Hint, "is dist-server running?") {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant exit 1, the JSON's error and hint (%q, %q)", tt.name, code, errOut.String(), got.Error, got.Hint)
		}
		if got.Behind == nil || len(got.Behind) != 0 || got.PassedOver == nil || len(got.PassedOver) != 0 {
			t.Errorf("%s: behind %s, passed_over %s; want both []", tt.name, got.Behind, got.PassedOver)
		}
		if len(got.Failed) != len(tt.failed) {
			t.Fatalf("%s: failed = %+v; want %v\n%s", tt.name, got.Failed, tt.failed, out.String())
		}
		for i, f := range got.Failed {
			if f.Server != tt.failed[i] || !strings.HasPrefix(f.Error, "GET "+tt.failed[i]+"/packages.db: ") || !strings.Contains(f.Error, "connection refused") {
				t.Errorf("%s: failed[%d] = %+v; want %s, its connection refused", tt.name, i, f, tt.failed[i])
			}
		}
	}
}

// TestSyncJSONKeysDisagree: a first sync refused because the servers
// listed present different keys names each server and key in "keys" (it
// gave "failed": [] and the keys only inside "error"), and lists no
// server as failed: each answered.
func TestSyncJSONKeysDisagree(t *testing.T) {
	one, _ := signing.ParsePublicKey("ed25519:w+FRzp/zTMXlK8qDhztsUG/pgv17WZLIbGbbd6/x87g=")
	two, _ := signing.ParsePublicKey("ed25519:WwHY5v8DZ14p1WbWAD6/6xT1x5H+hRQEYVr7NdlGJs8=")
	err := &catalogclient.KeysDisagreeError{Server: "http://a:9090", Key: one,
		Others: []catalogclient.PresentedKey{{Server: "http://b:9090", Key: two}}, Setting: "server_key in client.yaml"}
	v := newSyncFailedJSON(fmt.Errorf("wrapped: %w", err), []string{"http://a:9090", "http://b:9090"})
	want := []syncKey{{"http://a:9090", one.String(), one.Fingerprint()}, {"http://b:9090", two.String(), two.Fingerprint()}}
	if !slices.Equal(v.Keys, want) || len(v.Failed) != 0 || v.Failed == nil {
		t.Fatalf("keys %+v, failed %+v; want keys %+v and failed []", v.Keys, v.Failed, want)
	}
	b, _ := json.Marshal(newSyncFailedJSON(errors.New("sync: refused"), []string{"http://a:9090"}))
	if strings.Contains(string(b), `"keys"`) {
		t.Errorf("a failure of another kind has keys: %s", b)
	}
}

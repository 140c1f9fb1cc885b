package server

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
)

// holdPorts listens on n loopback ports for the test's life: another
// program holding the server's addresses.
func holdPorts(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

// A server whose addresses another program holds says every one of them
// at once, each with its key, and the configuration file that sets them,
// before it starts anything: a second server on the same ports named
// tracker_addr, then, once that was changed, peer_addr, and never
// database_addr (a newcomer's run). A mirror does the same for its two.
func TestEveryAddressInUseAtOnce(t *testing.T) {
	held := holdPorts(t, 4)
	cfg := &config.Server{DatabaseAddr: held[0], TrackerAddr: held[1], PeerAddr: held[2], MetricsAddr: held[3]}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	yaml := filepath.Join(t.TempDir(), "server.yaml")
	if err := os.WriteFile(yaml, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p := paths.Home{Root: t.TempDir()}.Server()
	ctx := context.Background()

	err := Run(ctx, Options{Paths: p, Config: cfg, ConfigPath: yaml})
	want := `addresses in use: tracker_addr "` + held[1] + `", database_addr "` + held[0] + `", metrics_addr "` + held[3] + `", peer_addr "` + held[2] +
		`": another program listens there (another dist-server perhaps): stop it, or set free ones in ` + yaml
	if err == nil || err.Error() != want {
		t.Fatalf("Run = %v\nwant %s", err, want)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("%v is not EADDRINUSE", err)
	}
	// Nothing started: no key made, no catalog opened.
	if entries, _ := os.ReadDir(p.Dir); len(entries) > 1 {
		t.Errorf("%s holds %d entries after the refused start, want the run lock alone", p.Dir, len(entries))
	}

	// The components left out are not checked; a file not there is said.
	err = Run(ctx, Options{Paths: p, Config: cfg, ConfigPath: yaml + ".none", NoDatabase: true, NoSeeder: true})
	want = `address in use: tracker_addr "` + held[1] + `": another program listens there (another dist-server perhaps): stop it, or set a free one in ` + yaml + `.none (it does not exist yet: these are the defaults)`
	if err == nil || err.Error() != want {
		t.Fatalf("Run with the tracker alone = %v\nwant %s", err, want)
	}

	err = RunMirror(ctx, MirrorOptions{Paths: paths.Home{Root: t.TempDir()}.Server(), Config: cfg, ConfigPath: yaml, Primary: []string{"http://127.0.0.1:1"}})
	if err == nil || !strings.HasPrefix(err.Error(), `addresses in use: database_addr "`+held[0]+`", metrics_addr "`+held[3]+`", peer_addr "`+held[2]+`": `) || !strings.HasSuffix(err.Error(), yaml) {
		t.Fatalf("RunMirror = %v, want its three addresses in use and %s", err, yaml)
	}
}

// Two keys of server.yaml set to one address: the second is in use by the
// server's own first, not by another program, and the error says so (it
// said "another program listens there (another dist-server perhaps)" of
// database_addr set to the tracker's default port).
func TestTwoKeysOneAddress(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := ln.Addr().String()
	ln.Close() // free for the server
	for _, tt := range []struct {
		name string
		cfg  config.Server
		want string
	}{
		{"database_addr on tracker_addr", config.Server{TrackerAddr: free, DatabaseAddr: free, PeerAddr: "127.0.0.1:0"},
			`database_addr "` + free + `" is the address of tracker_addr "` + free + `" too: give each its own port in server.yaml`},
		{"peer_addr on the tracker's port, any host", config.Server{TrackerAddr: ":" + port(free), DatabaseAddr: "127.0.0.1:0", PeerAddr: free},
			`peer_addr "` + free + `" is the address of tracker_addr ":` + port(free) + `" too: give each its own port in server.yaml`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.ApplyDefaults()
			lns, err := listenAll(&cfg, "", listenWants{tracker: true, seeder: true, catalog: true})
			if err == nil {
				lns.close()
				t.Fatal("listenAll: no error")
			}
			if err.Error() != tt.want {
				t.Errorf("listenAll = %v\nwant %s", err, tt.want)
			}
		})
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

package clientcli

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/distpac/distpac/internal/catalogclient"
)

func TestAllRefused(t *testing.T) {
	refused := fmt.Errorf("sync: GET http://a/packages.db: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	behind := errors.New("sync: catalog serial 1 is older than the one held (2): refusing a rollback")
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"one server, refused", refused, true},
		{"one server, another error", behind, false},
		{"every server refused", catalogclient.ServersError{{URL: "http://a", Err: refused}, {URL: "http://b", Err: refused}}, true},
		{"one refused, one behind", catalogclient.ServersError{{URL: "http://a", Err: refused}, {URL: "http://b", Err: behind}}, false},
	} {
		if got := allRefused(tc.err); got != tc.want {
			t.Errorf("%s: allRefused = %v, want %v", tc.name, got, tc.want)
		}
	}
}

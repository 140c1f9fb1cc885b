package namedfile

import (
	"context"
	"net"
	"net/http"
)

// unixClient dials the unix socket at path whatever the URL's host.
func unixClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

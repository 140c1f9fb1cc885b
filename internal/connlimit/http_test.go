package connlimit

import (
	"net/http"
	"testing"
	"time"
)

func TestNewHTTPServer(t *testing.T) {
	srv := NewHTTPServer(http.NotFoundHandler(), nil)
	if srv.ReadHeaderTimeout != 10*time.Second || srv.ReadTimeout != time.Minute ||
		srv.WriteTimeout != 30*time.Minute || srv.IdleTimeout != 2*time.Minute ||
		srv.MaxHeaderBytes != 16<<10 || srv.ErrorLog == nil {
		t.Fatalf("NewHTTPServer limits: %+v", srv)
	}
}

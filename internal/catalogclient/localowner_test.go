package catalogclient

import (
	"net/url"
	"testing"
)

func TestLoopbackTarget(t *testing.T) {
	tests := []struct {
		url  string
		ok   bool
		port int
	}{
		{"http://127.0.0.1:9090", true, 9090},
		{"http://127.0.0.2:9090", true, 9090},
		{"http://[::1]:9090/distpac/", true, 9090},
		{"http://LOCALHOST", true, 80},
		{"https://localhost", true, 443},
		{"http://10.0.0.1:9090", false, 0},
		{"http://mirror.example:9090", false, 0},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		_, port, ok := loopbackTarget(u)
		if ok != tt.ok || port != tt.port {
			t.Errorf("loopbackTarget(%s) = %d, %v; want %d, %v", tt.url, port, ok, tt.port, tt.ok)
		}
	}
}

package connlimit

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestFairShareSparesActiveRequests: a client at 127.0.0.2 downloads three
// responses at once (Total 3, the bound full, nothing idle). One silent
// connection from 127.0.0.3, a request never sent, must not cut a
// response in flight (found by a review: the fair-share rule closed the
// hog's oldest connection whatever its state; now only one that never
// sent a request).
func TestFairShareSparesActiveRequests(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Wrap(tcp, Options{PerIP: 10, Total: 3})
	release := make(chan struct{})
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write(make([]byte, 1024))
			w.(http.Flusher).Flush()
			<-release // a long download
			w.Write(make([]byte, 1024))
		}),
	}
	ln.Bind(srv)
	go srv.Serve(ln)
	defer srv.Close()

	legit := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	started := make(chan struct{}, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := legit.Get("http://" + ln.Addr().String() + "/archive")
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			io.ReadFull(resp.Body, make([]byte, 1024))
			started <- struct{}{}
			_, err = io.Copy(io.Discard, resp.Body)
			errs <- err
		}()
	}
	for range 3 {
		<-started
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}
	silent, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Skip(err)
	}
	defer silent.Close()
	time.Sleep(200 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a download in flight was cut for a connection that sent nothing: %v", err)
		}
	}
	t.Logf("counts %+v", ln.Counts())
}

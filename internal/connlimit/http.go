package connlimit

import (
	"log/slog"
	"net/http"
	"time"
)

// NewHTTPServer wraps h with limits that keep slow or hostile clients from
// holding resources: ReadHeaderTimeout 10s, ReadTimeout 1m, WriteTimeout
// 30m (archives can be large), IdleTimeout 2m, MaxHeaderBytes 16 KiB
// (net/http's default is 1 MiB: 400 connections each sending a megabyte
// of header lines held 470 MB of a daemon's metrics listener for the 10 s
// of ReadHeaderTimeout). The http.Server's own error log goes to logger at
// warning level. Every HTTP listener of the programs serves through one,
// the TCP ones behind a Listener (bound to it: Listener.Bind).
func NewHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      30 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// Package httprange bounds what a Range header may ask of a file server
// built on http.ServeContent: the catalog server (dist-server) and the
// named-file-server both serve through Limit, so the two answer the same
// hostile ranges the same way.
package httprange

import (
	"math"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// MaxRanges is the most ranges one request is served (nginx's max_ranges,
// Apache's MaxRanges). http.ServeContent answers any number of them with a
// multipart body that carries a boundary and two header lines for each:
// a 15.7 KB Range header of 3,900 one-byte ranges of the 24 KB catalog
// drew 546 KB (34.8×, 22× the catalog itself), and 1,500 distinct ones
// 218 KB, each part of an archive a read of its own. Web seeds (ours in
// internal/swarm, aria2, libtorrent) ask for one range at a time, so 16
// leaves room for any client that batches a few, and the part headers
// stay under 3 KB.
const MaxRanges = 16

// Limit returns r, or a copy of it with its Range header mended, for
// http.ServeContent to serve.
//
// A Range header of more than MaxRanges ranges is dropped, so that
// ServeContent sends the whole body with 200, as RFC 9110 §14.2 lets a
// server do with a request of many small ranges. Every client must take a
// 200 to a range request (the server may not support ranges); our web
// seed reader takes every piece from it. It counts as ServeContent
// parses: comma-separated, empty elements skipped.
//
// A suffix range of zero bytes ("-0", which no length satisfies) is given
// a start past any file: ServeContent answered "bytes=-0" with 206 and
// "Content-Range: bytes 6003348-6003347/6003348" (an attacker's run),
// where RFC 9110 §14.1.2 says 416; now that range is left out of the
// answer, and a request of nothing else gets 416.
func Limit(r *http.Request) *http.Request {
	h := r.Header.Get("Range")
	if strings.Contains(h, "-0") {
		if fixed, ok := noEmptySuffix(h); ok {
			r2 := *r
			r2.Header = r.Header.Clone()
			r2.Header.Set("Range", fixed)
			r, h = &r2, fixed
		}
	}
	if strings.Count(h, ",") < MaxRanges {
		return r
	}
	n := 0
	for part := range strings.SplitSeq(h, ",") {
		if textproto.TrimString(part) != "" {
			n++
		}
	}
	if n <= MaxRanges {
		return r
	}
	r2 := *r
	r2.Header = r.Header.Clone()
	r2.Header.Del("Range")
	return &r2
}

// noEmptySuffix replaces each suffix range of zero bytes ("-0", "-000") of
// the Range header h with one that starts past any file; ok when it
// replaced one.
func noEmptySuffix(h string) (fixed string, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found {
		return h, false
	}
	parts := strings.Split(spec, ",")
	for i, part := range parts {
		p := textproto.TrimString(part)
		if len(p) > 1 && p[0] == '-' && strings.Trim(p[1:], "0") == "" {
			parts[i], ok = strconv.FormatInt(math.MaxInt64, 10)+"-", true
		}
	}
	return "bytes=" + strings.Join(parts, ","), ok
}

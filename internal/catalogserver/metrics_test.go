package catalogserver

import (
	"math"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMetricsSerialReadable: a serial is an integer such as
// 20261207231810 (YYYYMMDDhhmmss), which the gauge prints as
// 2.026120723181e+13 and, past 2^53, rounds. The info metric carries it
// as a label, digit for digit, for operators who read or grep /metrics;
// before the first publication there is no catalog to describe.
func TestMetricsSerialReadable(t *testing.T) {
	for _, tc := range []struct {
		serial     int64 // 0: no SetSnapshot
		gauge      string
		info       string
		infoAbsent bool
	}{
		{serial: 0, gauge: "distpac_catalog_serial 0\n", infoAbsent: true},
		{serial: 7, gauge: "distpac_catalog_serial 7\n", info: `distpac_catalog_info{serial="7"} 1` + "\n"},
		{serial: 20261207231810, gauge: "distpac_catalog_serial 2.026120723181e+13\n", info: `distpac_catalog_info{serial="20261207231810"} 1` + "\n"},
		{serial: math.MaxInt64, gauge: "distpac_catalog_serial 9.223372036854776e+18\n", info: `distpac_catalog_info{serial="9223372036854775807"} 1` + "\n"},
	} {
		s := New(Options{ArchivesDir: t.TempDir(), Logger: discard})
		if tc.serial != 0 {
			s.SetSnapshot([]byte("db"), []byte("sig"), tc.serial, nil)
		}
		r := httptest.NewRequest("GET", PathMetrics, nil)
		r.RemoteAddr = "127.0.0.1:40000"
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		body := w.Body.String()
		if !strings.Contains(body, tc.gauge) {
			t.Errorf("serial %d: /metrics lacks %q:\n%s", tc.serial, tc.gauge, body)
		}
		if tc.infoAbsent {
			if strings.Contains(body, "distpac_catalog_info{") {
				t.Errorf("serial %d: /metrics has distpac_catalog_info before any publication:\n%s", tc.serial, body)
			}
			continue
		}
		if !strings.Contains(body, tc.info) || !strings.Contains(body, "# TYPE distpac_catalog_info gauge\n") {
			t.Errorf("serial %d: /metrics lacks %q (a gauge):\n%s", tc.serial, tc.info, body)
		}
	}
}

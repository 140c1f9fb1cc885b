package servercli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/cli"
)

// --past takes a serial as clients and mirrors print it, and refuses
// anything else as a usage error that says what it wants, before it
// looks at the data home.
func TestParsePast(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		says string // in the error; "" when taken
	}{
		{"20261207205800", 20261207205800, ""},
		{"1", 1, ""},
		{"99991231235959", 99991231235959, ""},
		{"007", 7, ""},
		{"", 0, "no serial given"},
		{"0", 0, "serials start at 1"},
		{"-5", 0, `"-5": not a serial`},
		{"+5", 0, `"+5": not a serial`},
		{" 5", 0, `" 5": not a serial`},
		{"2e13", 0, "not a serial"},
		{"0x10", 0, "not a serial"},
		{"1_000", 0, "not a serial"},
		{"20261207205800.5", 0, "not a serial"},
		{"abc", 0, `"abc": not a serial`},
		{"99991231235960", 0, "above 99991231235959, the serial of the last second of year 9999"},
		{"202612072058000", 0, "a digit too many?"},
		{"9223372036854775807", 0, "above 99991231235959"},
		{"99999999999999999999999", 0, "above 99991231235959"}, // past int64
	}
	for _, tc := range tests {
		got, err := parsePast(tc.in)
		if tc.says == "" {
			if err != nil || got != tc.want {
				t.Errorf("parsePast(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
			continue
		}
		if !errors.As(err, new(*cli.UsageError)) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "want the serial a client or mirror holds") {
			t.Errorf("parsePast(%q) = %d, %v; want a usage error saying %q and what it wants", tc.in, got, err, tc.in)
		}
	}
}

// A bad --past is refused before anything is looked at or made: exit 2,
// whatever the data home.
func TestRepublishBadPastIsUsage(t *testing.T) {
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	for _, args := range [][]string{{"republish", "--past", "x"}, {"republish", "--past="}, {"republish", "--past", "0"}} {
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
		if code != cli.ExitUsage || !strings.HasPrefix(stderr.String(), "dist-server: --past") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and the --past error", args, code, stderr.String(), cli.ExitUsage)
		}
	}
}

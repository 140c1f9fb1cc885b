package server

import (
	"reflect"
	"testing"

	"github.com/distpac/distpac/internal/jsontest"
)

// TestStatusJSONBooleans: dist-server status --json has filling and
// verifying when false too, so that a script can select on false.
func TestStatusJSONBooleans(t *testing.T) {
	if got := jsontest.OmittedBools(reflect.TypeOf(Status{})); len(got) > 0 {
		t.Errorf("booleans left out when false: %v", got)
	}
}

package clientcli

import (
	"reflect"
	"testing"

	"github.com/distpac/distpac/internal/fetch"
	"github.com/distpac/distpac/internal/installed"
	"github.com/distpac/distpac/internal/jsontest"
	"github.com/distpac/distpac/internal/state"
)

// TestJSONBooleansAlwaysPresent: every boolean of dist-client's --json
// outputs is there when false (list, search and info; list --installed;
// status; history and install's transfer reports; verify; owner; trust
// show), so that a script can select on false.
func TestJSONBooleansAlwaysPresent(t *testing.T) {
	for _, v := range []any{
		pkgJSON{}, installedJSON{}, clientStatus{}, upgradableJSON{},
		state.HistoryEntry{}, fetch.Report{}, installed.Verified{}, ownerJSON{}, trustShowJSON{}, trustChange{},
	} {
		typ := reflect.TypeOf(v)
		if got := jsontest.OmittedBools(typ); len(got) > 0 {
			t.Errorf("%v: booleans left out when false: %v", typ, got)
		}
	}
}

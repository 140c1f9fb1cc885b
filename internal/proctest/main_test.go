package proctest

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	WatchdogMain()
	os.Exit(m.Run())
}

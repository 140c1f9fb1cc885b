package e2e

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/distpac/distpac/internal/catalog"
)

// serial VAR [FILE] [+N] sets $VAR to the catalog serial of FILE (by
// default the server's working catalog.db, which add and remove commit
// before they return), plus N. Serials are the time's
// (catalog.TimeSerial), so a script names the one a command made rather
// than a number: `serial S` after an add, then `waitfor status serial $S`
// and `stdout 'serial '$S','`.
func cmdSerial(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 3 {
		ts.Fatalf("usage: serial VAR [FILE] [+N]")
	}
	path := filepath.Join(ts.Getenv("SERVER_HOME"), "distpac", "server", "catalog.db")
	var add int64
	for _, a := range args[1:] {
		if n, ok := strings.CutPrefix(a, "+"); ok {
			var err error
			add, err = strconv.ParseInt(n, 10, 64)
			ts.Check(err)
			continue
		}
		path = ts.MkAbs(a)
	}
	ctx := context.Background()
	db, err := catalog.OpenReadOnly(ctx, path)
	ts.Check(err)
	defer db.Close()
	m, err := db.Meta(ctx)
	ts.Check(err)
	ts.Setenv(args[0], strconv.FormatInt(m.Serial+add, 10))
}

// Package sqltest helps tests of the SQLite databases (the catalog, the
// installed state) check how SQLite runs their queries.
package sqltest

import (
	"database/sql"
	"testing"
)

// Plan returns the steps of SQLite's plan for query (EXPLAIN QUERY PLAN),
// in order: "SEARCH f USING INDEX files_path (path=?)", "SCAN packages"...
func Plan(tb testing.TB, db *sql.DB, query string, args ...any) []string {
	tb.Helper()
	rows, err := db.Query(`EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		tb.Fatalf("plan of %s: %v", query, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			tb.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return plan
}

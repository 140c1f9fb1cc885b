package bencode

import (
	"strings"
	"testing"
)

// distpac patch 25: lists and dicts nest at most maxNestingDepth deep, on
// every decoding path (into an interface, into a typed value, and the raw
// read of a value an Unmarshaler takes); a peer's extended handshake of
// 32,000 nested lists cost about 2 MB while decoded.
func TestNestingDepthBounded(t *testing.T) {
	deep := strings.Repeat("l", maxNestingDepth+1) + strings.Repeat("e", maxNestingDepth+1)
	ok := strings.Repeat("l", maxNestingDepth) + strings.Repeat("e", maxNestingDepth)
	dictDeep := strings.Repeat("d1:a", maxNestingDepth+1) + "i1e" + strings.Repeat("e", maxNestingDepth+1)
	var iface interface{}
	var typed struct {
		A interface{} `bencode:"a"`
	}
	var raw struct {
		A Bytes `bencode:"a"`
	}
	for _, tc := range []struct {
		name  string
		input string
		into  interface{}
		fails bool
	}{
		{"interface, at the bound", ok, &iface, false},
		{"interface, past it", deep, &iface, true},
		{"dicts past it", dictDeep, &iface, true},
		{"typed value, past it", "d1:a" + deep + "e", &typed, true},
		{"raw value, past it", "d1:a" + deep + "e", &raw, true},
		{"raw value, at the bound", "d1:a" + strings.Repeat("l", maxNestingDepth-1) + strings.Repeat("e", maxNestingDepth-1) + "e", &raw, false},
	} {
		err := Unmarshal([]byte(tc.input), tc.into)
		if (err != nil) != tc.fails || tc.fails && !strings.Contains(err.Error(), "nested over") {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

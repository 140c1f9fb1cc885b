// Package jsontest holds checks of the types commands print with --json.
// It is never linked into the binaries.
package jsontest

import (
	"reflect"
	"strings"
)

// OmittedBools lists the boolean fields, by their JSON path, that t's
// encoding leaves out when false (omitempty), through nested structs,
// pointers, slices and maps. A --json key that appears only when true
// cannot be selected when false: jq 'select(.auto == false)' found
// nothing in list --installed --json (a newcomer's findings).
func OmittedBools(t reflect.Type) []string {
	var out []string
	walk(t, "", map[reflect.Type]bool{}, &out)
	return out
}

func walk(t reflect.Type, path string, seen map[reflect.Type]bool, out *[]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return
	}
	seen[t] = true
	defer delete(seen, t)
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			walk(f.Type, path, seen, out) // embedded: its fields are this object's
			continue
		}
		if name == "" {
			name = f.Name
		}
		if f.Type.Kind() == reflect.Bool && hasOpt(opts, "omitempty") {
			*out = append(*out, path+"."+name)
		}
		walk(f.Type, path+"."+name, seen, out)
	}
}

func hasOpt(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

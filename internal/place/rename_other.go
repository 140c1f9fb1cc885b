//go:build !linux

package place

// renameNoReplace moves src to dst unless dst exists (checked just before).
func renameNoReplace(src, dst string) error { return checkAndRename(src, dst) }

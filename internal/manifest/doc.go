// Package manifest parses and validates a package's manifest.yaml (DESIGN.md
// §3) and owns the syntax every other package uses for names, versions,
// version constraints, dependencies and command-line package requests.
//
// It is a leaf: it reads bytes and returns values, and knows nothing of
// files, the network or the CLI. Versions are strict SemVer 2.0.0 and
// constraints use the Masterminds syntax ("1.2.3", ">=1.2, <2", "^1.4",
// "~1.2", "*"), so pre-releases are only chosen when a constraint asks for
// them.
package manifest

package publish

// What refuses a package that clashes with another of the same add or
// with what the catalog already has.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/manifest"
	"github.com/distpac/distpac/internal/pkgdir"
)

// loadAll checks every directory and reports every problem at once.
func loadAll(dirs []string) ([]*pkgdir.Package, error) {
	var pkgs []*pkgdir.Package
	var problems []error
	type versionGiven struct{ version, dir string }
	seen := map[string]versionGiven{}
	// spelling maps each name key to the first spelling given and its dir:
	// "Foo" and "foo" in one call would each pass publishedClash against the
	// catalog, so they are refused here, before any archive is built.
	type given struct{ name, dir string }
	spelling := map[string]given{}
	archives := map[string]string{} // archive file name -> dir
	for _, d := range dirs {
		pk, err := pkgdir.Load(d)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		nk := manifest.NameKey(pk.Manifest.Name)
		if g, ok := spelling[nk]; ok && g.name != pk.Manifest.Name {
			problems = append(problems, fmt.Errorf("%s: manifest.yaml: field \"name\": %q differs only in case from %q given by %s", d, pk.Manifest.Name, g.name, g.dir))
			continue
		} else if !ok {
			spelling[nk] = given{pk.Manifest.Name, d}
		}
		// Versions that differ only in build metadata are one version
		// (sameVersion).
		bare, _ := pk.Manifest.Version.SetMetadata("")
		key := nk + "@" + bare.String()
		if prev, ok := seen[key]; ok {
			if prev.version != pk.Manifest.Version.String() {
				problems = append(problems, fmt.Errorf("%s: %w", d, metadataOnly(pk.Manifest.Version.String(), prev.version+", given by "+prev.dir+",")))
				continue
			}
			problems = append(problems, fmt.Errorf("%s: %s@%s is also given by %s", d, pk.Manifest.Name, pk.Manifest.Version, prev.dir))
			continue
		}
		seen[key] = versionGiven{pk.Manifest.Version.String(), d}
		if prev, ok := archives[pk.ArchiveName()]; ok {
			problems = append(problems, fmt.Errorf("%s: %s@%s has the archive name %s, as does the package given by %s: change its name or version", d, pk.Manifest.Name, pk.Manifest.Version, pk.ArchiveName(), prev))
			continue
		}
		archives[pk.ArchiveName()] = d
		pkgs = append(pkgs, pk)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("nothing published:\n  %w", joinLines(problems))
	}
	return pkgs, nil
}

// publishedClash refuses "Foo" when "foo" is published: names are unique
// ignoring case (DESIGN §3); and 1.0.0+b when 1.0.0+a is (sameVersion).
func publishedClash(ctx context.Context, db *catalog.DB, row catalog.Package) error {
	name := row.Name
	vs, err := db.Versions(ctx, name)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, v := range vs {
		if v.Name != name {
			// The name is manifest.yaml's, or the directory's when it has
			// none (a newcomer was told of a field they never wrote).
			return fmt.Errorf("the package name %q (manifest.yaml's \"name\", else the directory's name) differs only in case from the published package %q", name, v.Name)
		}
		if err := sameVersion(v, row); err != nil {
			return err
		}
	}
	return nil
}

// sameVersion refuses row when its version differs from pub's only in
// build metadata ("1.0.0+b" against "1.0.0+a"). SemVer gives such versions
// the same precedence, so resolvers (the client's among them) treat them
// as one version and would install whichever came first for a request of
// the other.
func sameVersion(pub, row catalog.Package) error {
	if pub.Version == row.Version {
		return nil
	}
	a, errA := manifest.ParseVersion(pub.Version)
	b, errB := manifest.ParseVersion(row.Version)
	if errA != nil || errB != nil || !a.Equal(b) {
		return nil
	}
	return metadataOnly(row.Version, "the published "+pub.Name+"@"+pub.Version)
}

// metadataOnly refuses version, which differs from other only in build
// metadata.
func metadataOnly(version, other string) error {
	return fmt.Errorf("manifest.yaml: field \"version\": %s differs from %s only in build metadata, which does not order versions: publish it under a new version", version, other)
}

// archiveClash refuses a row whose archive file name is already another
// published version's: "foo-1.0.0"@"2.0.0" and "foo"@"1.0.0-2.0.0" are both
// foo-1.0.0-2.0.0.tar.zst, and storing the second would overwrite the
// first's archive under its feet. Every split of the name at a "-" is a
// candidate owner.
func archiveClash(ctx context.Context, db *catalog.DB, row catalog.Package) error {
	id := strings.TrimSuffix(row.Archive, ".tar.zst")
	for i := range len(id) {
		if id[i] != '-' {
			continue
		}
		name, version := id[:i], id[i+1:]
		if name == row.Name && version == row.Version {
			continue
		}
		other, err := db.Get(ctx, name, version)
		if errors.Is(err, catalog.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if other.Archive == row.Archive {
			return fmt.Errorf("%s@%s has the archive name %s, which the published package %s already uses: change its name or version", row.Name, row.Version, row.Archive, other.ID())
		}
	}
	return nil
}

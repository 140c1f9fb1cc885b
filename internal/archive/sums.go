package archive

// Sums are the sizes and SHA-256 digests of the regular files an
// extraction wrote, by their clean names in the archive (Extract).
//
// A package without install.sh is placed as its archive's assets/, and its
// record lists every file's SHA-256: hashed as it is extracted, the tree
// need not be read again to be scanned (stage.Scan). For a 16 MiB package
// that read was 12-15 ms of an install's CPU after its download, when, in
// a swarm, every install's extraction shares the cores; for 1 GiB, about
// a second.
type Sums map[string]Sum

// Sum is one file's size and SHA-256.
type Sum struct {
	Size   int64
	SHA256 [32]byte
}

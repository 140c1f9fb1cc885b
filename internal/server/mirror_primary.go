package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/redact"
)

// primaries is paths.Server.MirrorPrimaries: the URLs a mirror follows,
// as given, passwords masked (redact.URL: the file is world-readable, as
// server.json, whose mirror_of is gone once the mirror stops). A start
// without URLs follows them again: `dist-server mirror` restarted by hand
// said "no primary URL" while the data home was a mirror's (a newcomer's
// run).
type primaries struct {
	Primary []string `json:"primary"`
}

// maxPrimariesFile bounds primary.json (16 URLs).
const maxPrimariesFile = 64 << 10

// rememberPrimaries writes urls, masked, to p's primary.json.
func rememberPrimaries(p paths.Server, urls []string) error {
	b, err := json.MarshalIndent(primaries{Primary: redact.URLs(urls)}, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(p.MirrorPrimaries(), append(b, '\n'), 0o644)
}

// RememberedPrimaries is what the last mirror started in p followed
// (passwords masked); nil when none was recorded.
func RememberedPrimaries(p paths.Server) ([]string, error) {
	b, err := fsutil.ReadRegular(p.MirrorPrimaries(), maxPrimariesFile, true)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f primaries
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", p.MirrorPrimaries(), err)
	}
	return f.Primary, nil
}

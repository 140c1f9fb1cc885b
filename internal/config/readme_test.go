package config

import (
	"os"
	"strings"
	"testing"
)

// readmeBlock returns the first ```yaml block after heading in the README.
func readmeBlock(t *testing.T, readme, heading string) string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no heading %q", heading)
	}
	_, after, ok = strings.Cut(after, "```yaml\n")
	if !ok {
		t.Fatalf("README.md has no yaml block after %q", heading)
	}
	block, _, ok := strings.Cut(after, "```")
	if !ok {
		t.Fatalf("README.md: the yaml block after %q does not end", heading)
	}
	return block
}

// A newcomer copies the README's server.yaml and client.yaml as they
// stand: both must load. The client's once did not (`seed_time_limit: ""`,
// shown as "empty: no limit", was refused as not a duration).
func TestREADMEConfigExamplesLoad(t *testing.T) {
	t.Setenv("HOME", "/home/tester")
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)

	server := readmeBlock(t, readme, "### server.yaml")
	if _, err := LoadServer(writeFile(t, "server.yaml", server), false); err != nil {
		t.Errorf("README's server.yaml: %v", err)
	}

	// server_key is a placeholder there, to be replaced by `dist-server key`.
	client := readmeBlock(t, readme, "### client.yaml")
	client = strings.Replace(client, `"ed25519:..."`, `"ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="`, 1)
	if _, err := LoadClient(writeFile(t, "client.yaml", client), false); err != nil {
		t.Errorf("README's client.yaml: %v", err)
	}
}

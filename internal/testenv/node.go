package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Node returns the node binary when it and the npm packages are installed
// in the node_modules folder at modules (relative to the test's package).
// CI sets PUSHGATE_TEST_JS=1 after `npm ci`, and then their absence fails
// the test; elsewhere it is skipped.
func Node(t testing.TB, modules string, packages ...string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	missing := err != nil
	for _, p := range packages {
		if _, err := os.Stat(filepath.Join(modules, p, "package.json")); err != nil {
			missing = true
		}
	}
	if missing {
		if os.Getenv("PUSHGATE_TEST_JS") != "" {
			t.Fatalf("node or the npm packages %v are missing; run npm ci", packages)
		}
		t.Skipf("node or the npm packages %v are missing; run npm ci to run this test", packages)
	}
	return node
}

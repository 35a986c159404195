package trust

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenPlanKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), PlanKeyFile)
	k, created, err := OpenPlanKey(path)
	if err != nil || !created || len(k) == 0 {
		t.Fatalf("first open: %v %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	again, created, err := OpenPlanKey(path)
	if err != nil || created || !again.Equal(k) {
		t.Fatalf("reopen: created %v, same %v, %v", created, again.Equal(k), err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenPlanKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key: %v, want refused", err)
	}
	os.Chmod(path, 0o600)
	if err := os.WriteFile(path, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenPlanKey(path); err == nil {
		t.Fatal("a corrupt key file was accepted")
	}
}

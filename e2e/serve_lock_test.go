package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestOneServerPerDataDir: a second `patchgate serve` on a data directory
// in use is refused at once (its jobs and the SQLite database have one
// owner), and the first keeps serving.
func TestOneServerPerDataDir(t *testing.T) {
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "serve", "--data", s.data, "--listen", "127.0.0.1:0", "--log-level", "warn").CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "another patchgate serve is using this data directory") {
		t.Fatalf("second serve on %s: err %v\n%s", s.data, err, out)
	}
	if out := s.run(t, false, "whoami"); !strings.Contains(out, "admin") {
		t.Fatalf("the first server after the refusal: %s", out)
	}
}

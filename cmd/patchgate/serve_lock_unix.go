//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDataDir takes an exclusive lock on the data directory for the life
// of the process: one `patchgate serve` per data directory, so that its
// background jobs (rules, SLA checks, consolidation, cleanup, sync,
// notification dispatch) run under one leader (DESIGN.md §5) and two
// servers never write one SQLite database. The kernel drops the lock when
// the process dies, however it dies.
func lockDataDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, "serve.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("--data %s: another patchgate serve is using this data directory (one server per data directory)", dir)
		}
		return nil, fmt.Errorf("--data: cannot lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

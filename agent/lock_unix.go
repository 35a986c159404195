//go:build unix

package agent

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockStateDir takes an exclusive lock on the state dir so that two agent
// processes (a daemon and a one-shot run) never install at the same time.
func (a *Agent) lockStateDir() (unlock func(), err error) {
	f, err := os.OpenFile(a.path(lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another agent process is using state dir %s", a.cfg.StateDir)
		}
		return nil, fmt.Errorf("cannot lock state dir: %w", err)
	}
	return func() { f.Close() }, nil
}

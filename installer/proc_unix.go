//go:build unix

package installer

import (
	"errors"
	"os/exec"
	"syscall"
)

// ownProcessGroup puts the installer in a process group of its own so
// that a timeout kills everything it started, not just the first process.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

func textBusy(err error) bool { return errors.Is(err, syscall.ETXTBSY) }

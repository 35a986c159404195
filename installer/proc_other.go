//go:build !unix

package installer

import "os/exec"

// ownProcessGroup: without Unix process groups only the installer process
// itself is killed on timeout (exec.CommandContext's default).
func ownProcessGroup(cmd *exec.Cmd) {}

func textBusy(err error) bool { return false }

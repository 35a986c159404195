package agent

import (
	"errors"
	"fmt"
	"github.com/patchgate/patchgate/atomicfile"
	"os"
	"strings"
)

const (
	defaultMachineIDFile = "/etc/machine-id"
	defaultBootIDFile    = "/proc/sys/kernel/random/boot_id"
	maxIDLen             = 256
)

// machineID returns the id of this machine and whether it came from the OS
// (true) or is the agent's own random fallback kept in the state dir
// (false). A fallback id is copied along with a cloned state dir, so it
// cannot tell clones apart; the hostname then has to.
func (a *Agent) machineID() (id string, fromOS bool, err error) {
	file := a.cfg.MachineIDFile
	if file == "" {
		file = defaultMachineIDFile
	}
	if id := readID(file); id != "" {
		return id, true, nil
	}
	fallback := a.path(machineIDFile)
	if id := readID(fallback); id != "" {
		return id, false, nil
	}
	id = randomHex(16)
	if err := atomicfile.Write(fallback, []byte(id+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("cannot store a machine id: %w", err)
	}
	return id, false, nil
}

// readID reads a one-line id file; "" when missing, empty or unusable.
func readID(path string) string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) > 4*maxIDLen {
		return ""
	}
	id := strings.TrimSpace(string(data))
	if len(id) > maxIDLen || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return ""
	}
	return id
}

func (a *Agent) hostname() (string, error) {
	if a.cfg.Hostname != "" {
		return a.cfg.Hostname, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("cannot read the hostname: %w", err)
	}
	if h == "" {
		return "", errors.New("the hostname is empty: set one in the agent's configuration")
	}
	return h, nil
}

// bootID identifies the current boot; "" where the OS does not tell, and
// then reboot-pending updates are only cleared by re-installing.
func (a *Agent) bootID() string {
	file := a.cfg.BootIDFile
	if file == "" {
		file = defaultBootIDFile
	}
	return readID(file)
}

// Package installer is the closed set of ways the agent applies a payload:
// exec (run the verified file itself with its signed, fixed arguments) and
// dpkg (install a .deb). Every installer runs a program directly, never
// through a shell, with a minimal environment, a timeout that kills the
// whole process group, and a bounded capture of its output.
//
// It is used by the agent on managed hosts. It imports only the domain
// package and the standard library: never the server side (http, stores,
// content, ...) and never the agent.
package installer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
)

// Request is one payload to apply.
type Request struct {
	Payload patchgate.Payload
	// Path is the verified payload file in the agent's private staging
	// directory. It must be absolute, so it is never looked up in PATH.
	Path string
	// Dir is a private working directory, the installer's cwd.
	Dir string
	// Timeout bounds the run; on expiry the process group is killed.
	// Zero means DefaultTimeout.
	Timeout time.Duration
}

// Result is what an installer run produced. It is filled as far as known
// even when Install or Uninstall return an error: ExitCode is -1 when the
// program did not run to an exit status (refused, not started, killed).
type Result struct {
	ExitCode int
	// Output is the tail of the combined stdout and stderr, at most
	// OutputTail bytes, valid UTF-8.
	Output string
	// RebootRequired says the host must reboot to finish the change.
	RebootRequired bool
}

// Installer applies and removes payloads of one installer type. Both
// methods return a nil error only when the change succeeded.
type Installer interface {
	Install(ctx context.Context, req Request) (Result, error)
	Uninstall(ctx context.Context, req Request) (Result, error)
}

// Config adjusts the installers to the host. The zero value uses system
// defaults.
type Config struct {
	// DpkgPath and DpkgDebPath are the dpkg and dpkg-deb programs;
	// "" = /usr/bin/dpkg and /usr/bin/dpkg-deb.
	DpkgPath    string
	DpkgDebPath string
	// DpkgRoot installs into another root (dpkg --root), e.g. a chroot
	// or a test directory; "" = /.
	DpkgRoot string
	// DpkgAdminDir is dpkg's database (dpkg --admindir); "" = dpkg's
	// default (/var/lib/dpkg under DpkgRoot).
	DpkgAdminDir string
	// DpkgForceNotRoot passes --force-not-root, for tests and for agents
	// running unprivileged against a private root.
	DpkgForceNotRoot bool
}

// Defaults.
const (
	DefaultTimeout = time.Hour
	// OutputTail is how much of an installer's output is kept.
	OutputTail = 4 << 10
	// ExitRebootRequired is the exit code by which an exec payload says
	// "installed, reboot required". (Windows installers use 3010 or 194;
	// those are not portable exit statuses on Unix, where codes end at
	// 255, so patchgate's exec convention is 100.)
	ExitRebootRequired = 100
	// UninstallArg is appended after an exec payload's fixed arguments to
	// ask it to remove itself.
	UninstallArg = "--uninstall"
)

// minimalPath is the only environment variable an exec payload gets.
const minimalPath = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

// For returns the installer of type t. Types outside patchgate.Installers
// are refused: the set is closed, whatever a plan says.
func For(t patchgate.InstallerType, cfg Config) (Installer, error) {
	if !t.Valid() {
		return nil, patchgate.Invalid("installer", "unknown installer type %q: this agent only runs %s", t, installerList())
	}
	switch t {
	case patchgate.InstallerExec:
		return execInstaller{}, nil
	case patchgate.InstallerDpkg:
		return dpkgInstaller{cfg: cfg}, nil
	}
	return nil, patchgate.Invalid("installer", "installer type %q is not supported by this agent", t)
}

func installerList() string {
	s := make([]string, len(patchgate.Installers))
	for i, t := range patchgate.Installers {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// checkRequest refuses requests that could make an installer run
// something other than the verified file.
func checkRequest(req Request) error {
	if !filepath.IsAbs(req.Path) {
		return fmt.Errorf("payload path %q is not absolute", req.Path)
	}
	fi, err := os.Stat(req.Path)
	if err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("payload %s is not a regular file", req.Path)
	}
	if req.Dir == "" {
		return errors.New("no working directory given")
	}
	if fi, err := os.Stat(req.Dir); err != nil {
		return fmt.Errorf("working directory: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("working directory %s is not a directory", req.Dir)
	}
	for _, a := range req.Payload.Args {
		if strings.ContainsRune(a, 0) {
			return errors.New("payload argument contains a NUL byte")
		}
	}
	return nil
}

func failed(err error) (Result, error) { return Result{ExitCode: -1}, err }

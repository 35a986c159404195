package installer

import (
	"context"
	"fmt"
	"os"
	"slices"
)

// execInstaller runs the payload itself.
//
// Conventions, fixed so that signed arguments mean the same on every host:
//   - the payload is made executable (0700) and run directly, never through
//     a shell, with exactly the payload's Args, cwd = Request.Dir and an
//     environment of only PATH=/usr/sbin:/usr/bin:/sbin:/bin;
//   - exit code 0 = installed; ExitRebootRequired (100) = installed, reboot
//     required; anything else = failed;
//   - Uninstall runs the same file with UninstallArg ("--uninstall")
//     appended after the fixed Args, with the same exit code meanings.
type execInstaller struct{}

func (execInstaller) Install(ctx context.Context, req Request) (Result, error) {
	return execRun(ctx, req, req.Payload.Args)
}

func (execInstaller) Uninstall(ctx context.Context, req Request) (Result, error) {
	return execRun(ctx, req, append(slices.Clip(req.Payload.Args), UninstallArg))
}

func execRun(ctx context.Context, req Request, args []string) (Result, error) {
	if err := checkRequest(req); err != nil {
		return failed(err)
	}
	if err := os.Chmod(req.Path, 0o700); err != nil {
		return failed(err)
	}
	res, err := run(ctx, command{
		path:    req.Path,
		args:    args,
		dir:     req.Dir,
		env:     []string{minimalPath},
		timeout: req.Timeout,
	})
	if err != nil {
		return res, err
	}
	switch res.ExitCode {
	case 0:
		return res, nil
	case ExitRebootRequired:
		res.RebootRequired = true
		return res, nil
	}
	return res, fmt.Errorf("%s exited with code %d", req.Payload.Name, res.ExitCode)
}

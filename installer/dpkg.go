package installer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// dpkgInstaller installs .deb payloads with dpkg.
//
// Install runs dpkg [--root R] [--admindir A] [--force-not-root] [ARGS] -i
// FILE; Uninstall reads the package name with dpkg-deb --field FILE Package
// and runs dpkg ... -r NAME. A payload's Args may only be options from
// dpkgAllowedArgs: arbitrary dpkg options (--force-all, --instdir, ...)
// would let metadata widen what an install may do.
//
// RebootRequired is set when <root>/run/reboot-required, Debian's flag
// file, appears or is touched during the run.
type dpkgInstaller struct{ cfg Config }

var dpkgAllowedArgs = map[string]bool{
	"--force-confold": true,
	"--force-confnew": true,
	"--force-confdef": true,
}

// debPackageName is Debian policy's package name syntax; it cannot start
// with "-", so a name is never taken for an option.
var debPackageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

func (d dpkgInstaller) Install(ctx context.Context, req Request) (Result, error) {
	if err := d.check(req); err != nil {
		return failed(err)
	}
	return d.dpkg(ctx, req, "-i", req.Path)
}

func (d dpkgInstaller) Uninstall(ctx context.Context, req Request) (Result, error) {
	if err := d.check(req); err != nil {
		return failed(err)
	}
	name, res, err := d.packageName(ctx, req)
	if err != nil {
		return res, err
	}
	return d.dpkg(ctx, req, "-r", name)
}

func (d dpkgInstaller) check(req Request) error {
	if err := checkRequest(req); err != nil {
		return err
	}
	for _, a := range req.Payload.Args {
		if !dpkgAllowedArgs[a] {
			return fmt.Errorf("dpkg argument %q is not allowed (allowed: --force-confold, --force-confnew, --force-confdef)", a)
		}
	}
	return nil
}

func (d dpkgInstaller) dpkg(ctx context.Context, req Request, op, operand string) (Result, error) {
	var args []string
	if d.cfg.DpkgRoot != "" {
		args = append(args, "--root="+d.cfg.DpkgRoot)
	}
	if d.cfg.DpkgAdminDir != "" {
		args = append(args, "--admindir="+d.cfg.DpkgAdminDir)
	}
	if d.cfg.DpkgForceNotRoot {
		args = append(args, "--force-not-root")
	}
	args = append(args, req.Payload.Args...)
	args = append(args, op, operand)

	flag := filepath.Join(d.root(), "run", "reboot-required")
	before, _ := os.Stat(flag)
	res, err := run(ctx, command{
		path:    d.program(d.cfg.DpkgPath, "/usr/bin/dpkg"),
		args:    args,
		dir:     req.Dir,
		env:     []string{minimalPath, "DEBIAN_FRONTEND=noninteractive"},
		timeout: req.Timeout,
	})
	if err != nil {
		return res, fmt.Errorf("dpkg %s: %w", op, err)
	}
	if res.ExitCode != 0 {
		return res, fmt.Errorf("dpkg %s %s exited with code %d", op, filepath.Base(operand), res.ExitCode)
	}
	if after, err := os.Stat(flag); err == nil && (before == nil || !after.ModTime().Equal(before.ModTime())) {
		res.RebootRequired = true
	}
	return res, nil
}

// packageName reads the package name from the .deb.
func (d dpkgInstaller) packageName(ctx context.Context, req Request) (string, Result, error) {
	timeout := time.Minute
	if req.Timeout > 0 && req.Timeout < timeout {
		timeout = req.Timeout
	}
	res, err := run(ctx, command{
		path:    d.program(d.cfg.DpkgDebPath, "/usr/bin/dpkg-deb"),
		args:    []string{"--field", req.Path, "Package"},
		dir:     req.Dir,
		env:     []string{minimalPath},
		timeout: timeout,
	})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exited with code %d", res.ExitCode)
	}
	if err != nil {
		return "", res, fmt.Errorf("dpkg-deb --field %s Package: %w", filepath.Base(req.Path), err)
	}
	name := strings.TrimSpace(res.Output)
	if !debPackageName.MatchString(name) {
		return "", Result{ExitCode: -1, Output: res.Output}, fmt.Errorf("payload %s names no valid package (%q)", req.Payload.Name, name)
	}
	return name, res, nil
}

func (d dpkgInstaller) root() string {
	if d.cfg.DpkgRoot != "" {
		return d.cfg.DpkgRoot
	}
	return "/"
}

func (dpkgInstaller) program(configured, def string) string {
	if configured != "" {
		return configured
	}
	return def
}

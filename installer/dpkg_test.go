//go:build unix

package installer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

// dpkgEnv is a private dpkg root and database.
type dpkgEnv struct {
	cfg  Config
	root string
	work string
}

func newDpkgEnv(t *testing.T) dpkgEnv {
	t.Helper()
	for _, prog := range []string{"dpkg-deb", "dpkg"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("%s is not on PATH: the dpkg installer cannot be tested here", prog)
		}
	}
	dir := t.TempDir()
	e := dpkgEnv{root: filepath.Join(dir, "root"), work: filepath.Join(dir, "work")}
	admin := filepath.Join(dir, "admin")
	for _, d := range []string{e.root, e.work, admin, filepath.Join(admin, "info"), filepath.Join(admin, "updates"), filepath.Join(admin, "triggers")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(admin, "status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// --root and an explicit --admindir work as root and, with
	// --force-not-root, unprivileged. The package has no maintainer
	// scripts, so dpkg never needs to chroot.
	e.cfg = Config{DpkgRoot: e.root, DpkgAdminDir: admin, DpkgForceNotRoot: true}
	return e
}

// buildDeb builds pgtest-hello 1.0, which installs /opt/pgtest/hello.txt.
func buildDeb(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	pkg := filepath.Join(dir, "pkg")
	files := map[string]string{
		"DEBIAN/control": "Package: pgtest-hello\nVersion: 1.0\nArchitecture: all\n" +
			"Maintainer: patchgate tests <tests@example.invalid>\nDescription: patchgate installer test package\n",
		"opt/pgtest/hello.txt": "hello from pgtest\n",
	}
	for name, content := range files {
		p := filepath.Join(pkg, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(dir, "pgtest-hello_1.0_all.deb")
	out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", pkg, deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
	return deb
}

func (e dpkgEnv) request(path string, args ...string) Request {
	return Request{
		Payload: patchgate.Payload{Name: filepath.Base(path), Installer: patchgate.InstallerDpkg, Args: args},
		Path:    path,
		Dir:     e.work,
		Timeout: time.Minute,
	}
}

func TestDpkgInstallAndUninstall(t *testing.T) {
	e := newDpkgEnv(t)
	deb := buildDeb(t)
	inst, err := For(patchgate.InstallerDpkg, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	res, err := inst.Install(ctx, e.request(deb, "--force-confold"))
	if err != nil {
		t.Fatalf("install: %v\n%s", err, res.Output)
	}
	if res.ExitCode != 0 || res.RebootRequired || !strings.Contains(res.Output, "Setting up pgtest-hello (1.0)") {
		t.Fatalf("install result %+v", res)
	}
	hello := filepath.Join(e.root, "opt/pgtest/hello.txt")
	if data, err := os.ReadFile(hello); err != nil || string(data) != "hello from pgtest\n" {
		t.Fatalf("installed file: %q, %v", data, err)
	}
	products, err := DpkgProducts(e.cfg.DpkgAdminDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(products) != 1 || products[0] != (patchgate.InstalledProduct{Name: "pgtest-hello", Version: "1.0"}) {
		t.Fatalf("dpkg status lists %+v, want pgtest-hello 1.0 installed", products)
	}

	res, err = inst.Uninstall(ctx, e.request(deb))
	if err != nil {
		t.Fatalf("uninstall: %v\n%s", err, res.Output)
	}
	if !strings.Contains(res.Output, "Removing pgtest-hello (1.0)") {
		t.Errorf("uninstall output %q", res.Output)
	}
	if _, err := os.Stat(hello); !os.IsNotExist(err) {
		t.Fatalf("%s still there after uninstall: %v", hello, err)
	}
	products, err = DpkgProducts(e.cfg.DpkgAdminDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(products) != 0 {
		t.Fatalf("after uninstall dpkg lists %+v as installed", products)
	}
}

func TestDpkgCorruptPackageFails(t *testing.T) {
	e := newDpkgEnv(t)
	data, err := os.ReadFile(buildDeb(t))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.deb")
	if err := os.WriteFile(bad, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	inst, _ := For(patchgate.InstallerDpkg, e.cfg)
	res, err := inst.Install(context.Background(), e.request(bad))
	if err == nil {
		t.Fatalf("corrupt package installed: %+v", res)
	}
	if res.ExitCode <= 0 || res.Output == "" {
		t.Fatalf("want a non-zero exit code and output, got %+v", res)
	}
	if _, err := os.Stat(filepath.Join(e.root, "opt/pgtest/hello.txt")); err == nil {
		t.Fatal("corrupt package left files behind")
	}
	// Uninstall cannot even read its name.
	if _, err := inst.Uninstall(context.Background(), e.request(bad)); err == nil {
		t.Fatal("uninstall of a corrupt package succeeded")
	}
}

func TestDpkgRefusesArgs(t *testing.T) {
	e := newDpkgEnv(t)
	deb := buildDeb(t)
	inst, _ := For(patchgate.InstallerDpkg, e.cfg)
	for _, args := range [][]string{
		{"--force-all"},
		{"--instdir=/"},
		{"--force-confold", "--root=/"},
		{"-i"},
		{"--force-confold --force-all"},
	} {
		res, err := inst.Install(context.Background(), e.request(deb, args...))
		if err == nil || !strings.Contains(err.Error(), "not allowed") || res.ExitCode != -1 {
			t.Errorf("args %q: got %+v, %v; want refusal before running dpkg", args, res, err)
		}
	}
	if _, err := os.Stat(filepath.Join(e.root, "opt")); err == nil {
		t.Fatal("dpkg ran despite refused arguments")
	}
}

func TestDpkgRebootFlag(t *testing.T) {
	e := newDpkgEnv(t)
	deb := buildDeb(t)
	// A fake dpkg that behaves like a package whose postinst asks for a
	// reboot the Debian way.
	fake := filepath.Join(t.TempDir(), "dpkg")
	flag := filepath.Join(e.root, "run", "reboot-required")
	os.WriteFile(fake, []byte("#!/bin/sh\nmkdir -p "+filepath.Dir(flag)+" && touch "+flag+"\n"), 0o700)
	e.cfg.DpkgPath = fake
	inst, _ := For(patchgate.InstallerDpkg, e.cfg)
	res, err := inst.Install(context.Background(), e.request(deb))
	if err != nil || !res.RebootRequired {
		t.Fatalf("got %+v, %v; want reboot required", res, err)
	}
}

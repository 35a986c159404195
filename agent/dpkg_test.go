//go:build unix

package agent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/installer"
)

// TestDpkgPayloadEndToEnd installs a real .deb through the agent into a
// private dpkg root, and sees the package appear in the next inventory.
func TestDpkgPayloadEndToEnd(t *testing.T) {
	for _, prog := range []string{"dpkg-deb", "dpkg"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("%s is not on PATH", prog)
		}
	}
	e := newEnv(t)
	dir := t.TempDir()
	root, admin := filepath.Join(dir, "root"), filepath.Join(dir, "admin")
	for _, d := range []string{root, filepath.Join(admin, "info"), filepath.Join(admin, "updates"), filepath.Join(admin, "triggers")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.write(filepath.Join(admin, "status"), "")
	pkg := filepath.Join(dir, "pkg")
	os.MkdirAll(filepath.Join(pkg, "DEBIAN"), 0o755)
	os.MkdirAll(filepath.Join(pkg, "opt/pgtest"), 0o755)
	e.write(filepath.Join(pkg, "DEBIAN/control"), "Package: pgtest-hello\nVersion: 1.0\nArchitecture: all\n"+
		"Maintainer: patchgate tests <tests@example.invalid>\nDescription: patchgate agent test package\n")
	e.write(filepath.Join(pkg, "opt/pgtest/hello.txt"), "hello\n")
	deb := filepath.Join(dir, "hello.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", pkg, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, out)
	}
	data, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	p := e.srv.addPayload("pgtest-hello_1.0_all.deb", data, patchgate.InstallerDpkg, "--force-confold")
	e.srv.setItems(installItem("PG-DEB", p))

	a := e.agent(func(c *Config) {
		c.DpkgAdminDir = "" // detect from the installer's database
		c.Installer = installer.Config{DpkgRoot: root, DpkgAdminDir: admin, DpkgForceNotRoot: true}
	})
	sum, err := a.RunOnce(context.Background())
	if err != nil || sum.Installed != 1 {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
	mustExist(t, filepath.Join(root, "opt/pgtest/hello.txt"))
	inv := e.srv.lastCheckin()
	if !slices.Contains(inv.Products, patchgate.InstalledProduct{Name: "pgtest-hello", Version: "1.0"}) {
		t.Fatalf("products after install %+v", inv.Products)
	}

	un := installItem("PG-DEB", p)
	un.Action = patchgate.ActionUninstall
	e.srv.setItems(un)
	if sum, err := a.RunOnce(context.Background()); err != nil || sum.Uninstalled != 1 {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
	mustNotExist(t, filepath.Join(root, "opt/pgtest/hello.txt"))
	if inv := e.srv.lastCheckin(); len(inv.Products) != 0 || len(inv.Installed) != 0 {
		t.Fatalf("inventory after uninstall %+v", inv)
	}
}

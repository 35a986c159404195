package installer

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/patchgate/patchgate"
)

const sampleStatus = `Package: openssl
Status: install ok installed
Priority: optional
Version: 3.0.15-1~deb12u1
Description: Secure Sockets Layer toolkit
 This package contains the openssl binary.
 .
 Status: deinstall ok config-files
 Package: not-a-package

Package: removed-pkg
Status: deinstall ok config-files
Version: 1.0

package: Libc6
status: install ok installed
version: 2.36-9+deb12u4
Multi-Arch: same
Architecture: amd64

Package: libc6
Status: install ok installed
Version: 2.36-9+deb12u3
Architecture: i386

Package: held
Status: hold ok installed
Version: 2:1.0

Package: half
Status: install ok half-configured
Version: 1.0

Package: reinst
Status: install reinstreq installed
Version: 1.0

Package: bad_name!
Status: install ok installed
Version: 1.0

Package: noversion
Status: install ok installed

Package: badversion
Status: install ok installed
Version: 1.0 beta

Package: crlf
Status: install ok installed
Version: 5.0
`

func TestParseDpkgStatus(t *testing.T) {
	data := strings.Replace(sampleStatus, "Package: crlf\nStatus: install ok installed\nVersion: 5.0\n",
		"Package: crlf\r\nStatus: install ok installed\r\nVersion: 5.0\r\n", 1)
	got := parseDpkgStatus([]byte(data))
	want := []patchgate.InstalledProduct{
		{Name: "crlf", Version: "5.0"},
		{Name: "held", Version: "2:1.0"},
		{Name: "libc6", Version: "2.36-9+deb12u4"},
		{Name: "openssl", Version: "3.0.15-1~deb12u1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestDpkgProductsFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := DpkgProducts(dir); !os.IsNotExist(err) {
		t.Fatalf("missing status file: err = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "status"), []byte(sampleStatus), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := DpkgProducts(dir)
	if err != nil || len(got) != 4 {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestDpkgProductsSizeLimit(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "status"))
	if err != nil {
		t.Fatal(err)
	}
	// A sparse file: large without costing disk.
	if err := f.Truncate(MaxDpkgStatusBytes + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := DpkgProducts(dir); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v, want size limit", err)
	}
}

// TestDpkgProductsSystem reads this machine's dpkg database, when there
// is one, to check the parser against real data.
func TestDpkgProductsSystem(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skip("no dpkg database on this machine")
	}
	got, err := DpkgProducts("/var/lib/dpkg")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatal("no installed packages found in /var/lib/dpkg/status")
	}
	checkProducts(t, got)
}

func checkProducts(t *testing.T, products []patchgate.InstalledProduct) {
	t.Helper()
	if !sort.SliceIsSorted(products, func(i, j int) bool { return products[i].Name < products[j].Name }) {
		t.Fatal("products not sorted by name")
	}
	for i, p := range products {
		if !patchgate.ValidProductName(p.Name) {
			t.Fatalf("invalid product name %q", p.Name)
		}
		if err := patchgate.ValidVersion(p.Version); err != nil {
			t.Fatalf("product %s: %v", p.Name, err)
		}
		if i > 0 && products[i-1].Name == p.Name {
			t.Fatalf("product %s listed twice", p.Name)
		}
	}
}

func FuzzParseDpkgStatus(f *testing.F) {
	f.Add([]byte(sampleStatus))
	f.Add([]byte("Package: a\nStatus: install ok installed\nVersion: 1\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkProducts(t, parseDpkgStatus(data))
	})
}

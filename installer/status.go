package installer

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/patchgate/patchgate"
)

// MaxDpkgStatusBytes bounds how much of dpkg's status file is read.
const MaxDpkgStatusBytes = 64 << 20

// DpkgProducts returns the packages dpkg lists as installed in
// adminDir/status, as products: name = package name lowercased, version =
// its Version. Packages whose name or version is not a valid product name
// or version are left out; a package installed for several architectures
// is listed once, at its highest version. The result is sorted by name.
func DpkgProducts(adminDir string) ([]patchgate.InstalledProduct, error) {
	f, err := os.Open(filepath.Join(adminDir, "status"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > MaxDpkgStatusBytes {
		return nil, fmt.Errorf("dpkg status file %s is larger than %d bytes", f.Name(), MaxDpkgStatusBytes)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxDpkgStatusBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading dpkg status: %w", err)
	}
	if len(data) > MaxDpkgStatusBytes {
		return nil, fmt.Errorf("dpkg status file %s is larger than %d bytes", f.Name(), MaxDpkgStatusBytes)
	}
	return parseDpkgStatus(data), nil
}

// parseDpkgStatus reads deb822 stanzas (fields "Name: value", continuation
// lines starting with a space or tab, stanzas separated by blank lines).
// Only Package, Version and Status matter; field names are
// case-insensitive. Installed means a Status of "install ok installed" or
// "hold ok installed" (a held package is installed too).
func parseDpkgStatus(data []byte) []patchgate.InstalledProduct {
	best := map[string]string{}
	var pkg, version, status string
	flush := func() {
		defer func() { pkg, version, status = "", "", "" }()
		f := strings.Fields(status)
		if len(f) != 3 || (f[0] != "install" && f[0] != "hold") || f[1] != "ok" || f[2] != "installed" {
			return
		}
		name := strings.ToLower(pkg)
		if !patchgate.ValidProductName(name) || patchgate.ValidVersion(version) != nil {
			return
		}
		if old, ok := best[name]; !ok || patchgate.CompareVersions(version, old) > 0 {
			best[name] = version
		}
	}
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case len(bytes.TrimSpace(line)) == 0:
			flush()
		case line[0] == ' ' || line[0] == '\t':
			// Continuation of a multi-line field (Description, Conffiles).
		default:
			name, value, ok := bytes.Cut(line, []byte(":"))
			if !ok {
				continue
			}
			v := string(bytes.TrimSpace(value))
			switch strings.ToLower(string(bytes.TrimSpace(name))) {
			case "package":
				pkg = v
			case "version":
				version = v
			case "status":
				status = v
			}
		}
	}
	flush()
	products := make([]patchgate.InstalledProduct, 0, len(best))
	for name, v := range best {
		products = append(products, patchgate.InstalledProduct{Name: name, Version: v})
	}
	sort.Slice(products, func(i, j int) bool { return products[i].Name < products[j].Name })
	return products
}

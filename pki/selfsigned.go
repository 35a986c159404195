package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/patchgate/patchgate/atomicfile"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// File names inside the directory given to EnsureServerTLS.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
)

const (
	caLifetime     = 10 * 365 * 24 * time.Hour
	serverLifetime = 365 * 24 * time.Hour
	// RenewBefore is how long before its expiry the server certificate is
	// replaced by EnsureServerTLS.
	RenewBefore = 30 * 24 * time.Hour
	// backdate absorbs clock skew between the server and its agents.
	backdate = time.Hour
)

// defaultHosts are the names a generated server certificate covers when the
// caller names none.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// ensureMu serialises EnsureServerTLS within a process. Separate processes
// sharing one directory must not run their very first start at the same
// time; a CA key and certificate that do not match are reported, not fixed.
var ensureMu sync.Mutex

// EnsureServerTLS returns a server TLS configuration (TLS 1.2 or later) from
// the self-managed PKI in dir, and the fingerprint of its CA.
//
// On first use it creates a self-signed ECDSA P-256 CA valid ten years
// (ca.crt, ca.key) and a server certificate signed by it valid one year
// (server.crt, server.key) for hosts: DNS names or IP addresses, localhost,
// 127.0.0.1 and ::1 when empty. Later calls load them, and issue a new server
// certificate (with a new key) from the same CA when the current one expires
// within RenewBefore of now, does not cover all of hosts, or was not signed
// by the CA. The CA itself is never replaced: agents pinned its fingerprint. A CA
// certificate whose key is missing is an error.
//
// A long-running server renews by calling EnsureServerTLS again (for example
// daily) and using the new configuration for new connections.
//
// Keys are written with mode 0600, every file atomically (temp file and
// rename), so a crash leaves either the old file or the new one.
func EnsureServerTLS(dir string, hosts []string, now time.Time) (cfg *tls.Config, fingerprint string, err error) {
	ensureMu.Lock()
	defer ensureMu.Unlock()

	dnsNames, ips, err := parseHosts(hosts)
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("pki: creating %s: %w", dir, err)
	}
	ca, err := ensureCA(dir, now)
	if err != nil {
		return nil, "", err
	}
	if now.After(ca.Leaf.NotAfter) {
		return nil, "", fmt.Errorf("pki: the CA in %s expired on %s; agents pinned to it must be re-enrolled with a new one",
			dir, ca.Leaf.NotAfter.UTC().Format(time.DateOnly))
	}

	// A missing or damaged server certificate is simply issued anew; only
	// the CA is irreplaceable.
	server, _ := loadKeyPair(dir, ServerCertFile, ServerKeyFile)
	if server == nil || !serverCertUsable(server.Leaf, ca.Leaf, dnsNames, ips, now) {
		server, err = issueServerCert(dir, ca, dnsNames, ips, now)
		if err != nil {
			return nil, "", err
		}
	}
	// The CA goes with the leaf: a pinning client has only the fingerprint
	// and needs the certificate itself to build the chain.
	server.Certificate = [][]byte{server.Certificate[0], ca.Leaf.Raw}
	return serverConfig(*server), Fingerprint(ca.Leaf), nil
}

// parseHosts splits hosts into DNS names and IP addresses.
func parseHosts(hosts []string) ([]string, []net.IP, error) {
	if len(hosts) == 0 {
		hosts = defaultHosts
	}
	var names []string
	var ips []net.IP
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			continue
		}
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if !validDNSName(h) {
			return nil, nil, fmt.Errorf("pki: %q is neither a host name nor an IP address", h)
		}
		if !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	return names, ips, nil
}

// validDNSName accepts host names and a leading wildcard label.
func validDNSName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i, label := range strings.Split(h, ".") {
		if label == "*" && i == 0 && strings.Contains(h, ".") {
			continue
		}
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ensureCA loads the CA from dir or creates it when neither its certificate
// nor a usable key pair exists.
func ensureCA(dir string, now time.Time) (*tls.Certificate, error) {
	ca, err := loadKeyPair(dir, CACertFile, CAKeyFile)
	if err == nil {
		if !ca.Leaf.IsCA {
			return nil, fmt.Errorf("pki: %s is not a CA certificate", filepath.Join(dir, CACertFile))
		}
		return ca, nil
	}
	if _, statErr := os.Stat(filepath.Join(dir, CACertFile)); !errors.Is(statErr, fs.ErrNotExist) {
		// The certificate exists (or cannot be checked): its fingerprint may
		// be pinned by agents, so never replace it behind the admin's back.
		return nil, fmt.Errorf("pki: CA in %s is unusable, not replacing it: %w", dir, err)
	}
	// No CA certificate. A key alone is left over from a first start that
	// stopped half-way; its CA was never shown to anyone.
	return createCA(dir, now)
}

func createCA(dir string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generating CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"patchgate"},
			// The serial makes CAs of different servers tell apart in a UI.
			CommonName: "patchgate CA " + hex.EncodeToString(serial.Bytes()[:4]),
		},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: creating CA certificate: %w", err)
	}
	// Key first: a crash between the two writes leaves a key without a
	// certificate, which ensureCA treats as "no CA yet".
	if err := writeKeyPair(dir, CACertFile, CAKeyFile, der, key); err != nil {
		return nil, err
	}
	return loadKeyPair(dir, CACertFile, CAKeyFile)
}

// serverCertUsable reports whether leaf can keep serving: signed by ca,
// already valid, not expiring within RenewBefore, and covering every
// requested name and address.
func serverCertUsable(leaf, ca *x509.Certificate, dnsNames []string, ips []net.IP, now time.Time) bool {
	if leaf.CheckSignatureFrom(ca) != nil {
		return false
	}
	if now.Before(leaf.NotBefore) || !now.Add(RenewBefore).Before(leaf.NotAfter) {
		return false
	}
	for _, n := range dnsNames {
		if !slices.Contains(leaf.DNSNames, n) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func issueServerCert(dir string, ca *tls.Certificate, dnsNames []string, ips []net.IP, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generating server key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(serverLifetime)
	if notAfter.After(ca.Leaf.NotAfter) {
		notAfter = ca.Leaf.NotAfter
	}
	cn := "patchgate server"
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	} else if len(ips) > 0 {
		cn = ips[0].String()
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"patchgate"}, CommonName: cn},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dnsNames,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Leaf, key.Public(), ca.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("pki: creating server certificate: %w", err)
	}
	if err := writeKeyPair(dir, ServerCertFile, ServerKeyFile, der, key); err != nil {
		return nil, err
	}
	return loadKeyPair(dir, ServerCertFile, ServerKeyFile)
}

func randomSerial() (*big.Int, error) {
	// 128 bits, as CAs do; always 16 bytes long so the CA name can use them.
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("pki: generating serial number: %w", err)
		}
		if n.BitLen() > 120 {
			return n, nil
		}
	}
}

// loadKeyPair loads a certificate and its matching key; Leaf is set. A
// missing file gives an error matching fs.ErrNotExist.
func loadKeyPair(dir, certName, keyName string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, certName))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, keyName))
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", certName, keyName, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", certName, err)
		}
	}
	return &pair, nil
}

// writeKeyPair writes the key (mode 0600) and then the certificate (0644),
// each atomically.
func writeKeyPair(dir, certName, keyName string, certDER []byte, key crypto.Signer) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: encoding key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writeFileAtomic(dir, keyName, keyPEM, 0o600); err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	return writeFileAtomic(dir, certName, certPEM, 0o644)
}

// writeFileAtomic replaces dir/name with data (atomicfile.Write).
func writeFileAtomic(dir, name string, data []byte, perm os.FileMode) error {
	if err := atomicfile.Write(filepath.Join(dir, name), data, perm); err != nil {
		return fmt.Errorf("pki: writing %s: %w", name, err)
	}
	return nil
}

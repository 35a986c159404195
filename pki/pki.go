// Package pki gives a patchgate server its TLS identity and gives agents a
// way to trust exactly that server and nothing else.
//
// A server without admin-provided certificates creates its own small CA on
// first start (EnsureServerTLS) and a server certificate signed by it, which
// it renews from the CA before expiry. The CA's SHA-256 fingerprint is what
// an agent is told at enrolment; PinnedClientConfig(For) and NewHTTPClient
// then accept only a chain containing the certificate with that fingerprint,
// never the system trust store and never a proxy from the environment
// (DESIGN.md §7).
//
// It imports only the standard library and the domain package
// github.com/patchgate/patchgate; it must not import any other adapter. It
// never reads the environment; certificate issuance takes the time as an
// argument, and pinned clients check expiry at tls.Config.Time when set.
package pki

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/patchgate/patchgate"
)

// Fingerprint returns the canonical fingerprint of a certificate: the SHA-256
// of its DER encoding as 64 lowercase hex characters.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// FingerprintFile returns the fingerprint of the first certificate in the PEM
// file certPEMFile. For an admin-provided chain, pass the file holding the CA
// (or whichever certificate of the chain the agents should pin) first.
func FingerprintFile(certPEMFile string) (string, error) {
	data, err := os.ReadFile(certPEMFile)
	if err != nil {
		return "", fmt.Errorf("pki: reading certificate: %w", err)
	}
	cert, err := firstCertificate(data)
	if err != nil {
		return "", fmt.Errorf("pki: %s: %w", certPEMFile, err)
	}
	return Fingerprint(cert), nil
}

func firstCertificate(pemData []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, pemData = pem.Decode(pemData)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// NormalizeFingerprint returns the canonical form of a SHA-256 fingerprint
// given as 64 hex characters or as 32 colon-separated hex pairs (as openssl
// prints it), in either case. Surrounding white space is ignored; anything
// else is an invalid error.
func NormalizeFingerprint(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, ":") {
		parts := strings.Split(s, ":")
		if len(parts) != sha256.Size {
			return "", invalidFingerprint()
		}
		for _, p := range parts {
			if len(p) != 2 {
				return "", invalidFingerprint()
			}
		}
		s = strings.Join(parts, "")
	}
	if len(s) != sha256.Size*2 {
		return "", invalidFingerprint()
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return "", invalidFingerprint()
		}
	}
	return strings.ToLower(s), nil
}

func invalidFingerprint() error {
	return patchgate.Invalid("fingerprint", "must be a SHA-256 fingerprint: 64 hex characters, optionally colon-separated in pairs")
}

// LoadServerTLS returns a server TLS configuration (TLS 1.2 or later) for an
// admin-provided certificate and key. certFile may hold the whole chain,
// leaf first; agents must be given the fingerprint of one certificate in it.
func LoadServerTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: loading server certificate: %w", err)
	}
	return serverConfig(cert), nil
}

func serverConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
}

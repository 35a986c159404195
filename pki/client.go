package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// PinnedClientConfig returns a client TLS configuration (TLS 1.2 or later)
// that trusts only a server whose presented chain contains a certificate with
// the given SHA-256 fingerprint, normally the server's CA. The leaf must
// verify up to that certificate, be valid now (or at the config's Time, when
// set) and carry the name the client asked for in cs.ServerName. The system
// trust store is never consulted.
//
// crypto/tls leaves cs.ServerName empty when the server is addressed by IP
// address (no SNI is sent), and this configuration then refuses the server:
// use PinnedClientConfigFor, which knows the address, or NewHTTPClient, which
// does that per connection.
//
// InsecureSkipVerify is set only to switch off Go's verification against the
// system roots; VerifyConnection does the full verification instead, on full
// handshakes and on resumed sessions alike. Do not clear VerifyConnection.
func PinnedClientConfig(fingerprint string) (*tls.Config, error) {
	return PinnedClientConfigFor(fingerprint, "")
}

// PinnedClientConfigFor is PinnedClientConfig for a connection to
// serverName, a DNS name or an IP address (IPv6 with or without brackets):
// the leaf must carry that name whatever the handshake reports. It also sets
// ServerName, so a DNS name is sent as SNI. An empty serverName makes it
// PinnedClientConfig.
func PinnedClientConfigFor(fingerprint, serverName string) (*tls.Config, error) {
	pin, err := NormalizeFingerprint(fingerprint)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true,
		ServerName:         serverName,
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		now := time.Now()
		if cfg.Time != nil {
			now = cfg.Time()
		}
		name := serverName
		if name == "" {
			name = cs.ServerName
		}
		return verifyPinned(cs.PeerCertificates, name, pin, now)
	}
	return cfg, nil
}

func verifyPinned(certs []*x509.Certificate, serverName, pin string, now time.Time) error {
	if len(certs) == 0 {
		return errors.New("pki: server presented no certificate")
	}
	if serverName == "" {
		// x509 skips the name check for an empty name; refuse instead.
		return errors.New("pki: no server name to verify the certificate against (for an IP address use PinnedClientConfigFor)")
	}
	var anchor *x509.Certificate
	seen := make([]string, len(certs))
	for i, c := range certs {
		seen[i] = Fingerprint(c)
		if seen[i] == pin && anchor == nil {
			anchor = c
		}
	}
	if anchor == nil {
		return fmt.Errorf("pki: server %s is not the pinned server: expected CA fingerprint %s, seen %s",
			serverName, pin, strings.Join(seen, ", "))
	}
	roots := x509.NewCertPool()
	roots.AddCert(anchor)
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		intermediates.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		DNSName:       serverName,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("pki: server %s has the pinned CA %s but its certificate does not verify: %w",
			serverName, pin, err)
	}
	return nil
}

// Timeouts of the clients made by NewHTTPClient and NewInsecureHTTPClient.
// They bound each phase of a request; the caller's timeout bounds the whole.
const (
	dialTimeout           = 10 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = 30 * time.Second
	idleConnTimeout       = 90 * time.Second
	maxIdleConnsPerHost   = 16
)

// NewHTTPClient returns an HTTP client for https:// URLs only, trusting only
// the server pinned by fingerprint (see PinnedClientConfigFor). It ignores
// proxy settings in the environment and keeps up to 16 idle connections per
// host. timeout bounds a whole request including reading the body; 0 means
// no overall limit (large downloads), while dial, TLS handshake and response
// header timeouts still apply. Plain http:// requests, also by redirect, are
// refused.
//
// An empty fingerprint is an error: use NewInsecureHTTPClient to talk plain
// HTTP on purpose.
func NewHTTPClient(fingerprint string, timeout time.Duration) (*http.Client, error) {
	if strings.TrimSpace(fingerprint) == "" {
		return nil, errors.New("pki: no server fingerprint to pin; refusing to trust any certificate (use NewInsecureHTTPClient for plain http)")
	}
	pin, err := NormalizeFingerprint(fingerprint)
	if err != nil {
		return nil, err
	}
	t := newTransport()
	// The TLS handshake is done here rather than by the transport because
	// only here is the dialled host known for verification: a transport's
	// TLSClientConfig is cloned per connection, out of VerifyConnection's
	// reach, and crypto/tls reports no name for IP addresses.
	t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		cfg, err := PinnedClientConfigFor(pin, host)
		if err != nil {
			return nil, err
		}
		cfg.NextProtos = []string{"h2", "http/1.1"}
		raw, err := t.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(ctx, t.TLSHandshakeTimeout)
		defer cancel()
		conn := tls.Client(raw, cfg)
		if err := conn.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return conn, nil
	}
	return &http.Client{Transport: schemeOnly{"https", t}, Timeout: timeout}, nil
}

// NewInsecureHTTPClient returns an HTTP client for plain http:// URLs, for
// experiments with --insecure-http. It ignores proxy settings in the
// environment like NewHTTPClient. It refuses https:// URLs rather than
// verifying them against the system trust store.
func NewInsecureHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Transport: schemeOnly{"http", newTransport()}, Timeout: timeout}
}

// WithResponseHeaderTimeout returns a copy of c, made by NewHTTPClient or
// NewInsecureHTTPClient, whose transport (a clone, with its own
// connections) waits up to d for response headers: for requests the
// server holds, such as long-poll check-ins. Another client is returned
// as it is.
func WithResponseHeaderTimeout(c *http.Client, d time.Duration) *http.Client {
	so, ok := c.Transport.(schemeOnly)
	if !ok {
		return c
	}
	t := so.next.Clone()
	t.ResponseHeaderTimeout = d
	out := *c
	out.Transport = schemeOnly{so.scheme, t}
	return &out
}

func newTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		// Agents must not follow HTTP(S)_PROXY from the environment
		// (DESIGN.md §7); nil means "connect directly".
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       idleConnTimeout,
		MaxIdleConns:          4 * maxIdleConnsPerHost,
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		ForceAttemptHTTP2:     true,
	}
}

// schemeOnly refuses requests for any URL scheme but one, so that a pinned
// client cannot be talked into plaintext (by a redirect, say) and the plain
// client never falls back to the system trust store.
type schemeOnly struct {
	scheme string
	next   *http.Transport
}

func (s schemeOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != s.scheme {
		if req.Body != nil {
			req.Body.Close() // RoundTrip must close the body, even on error
		}
		return nil, fmt.Errorf("pki: this client speaks only %s, refusing %s", s.scheme, req.URL.Redacted())
	}
	return s.next.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport.
func (s schemeOnly) CloseIdleConnections() { s.next.CloseIdleConnections() }

package pki

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

const day = 24 * time.Hour

func ensure(t *testing.T, dir string, hosts []string, now time.Time) (*tls.Config, string) {
	t.Helper()
	cfg, fp, err := EnsureServerTLS(dir, hosts, now)
	if err != nil {
		t.Fatalf("EnsureServerTLS: %v", err)
	}
	return cfg, fp
}

// leafOf returns the server certificate a config would present.
func leafOf(t *testing.T, cfg *tls.Config) *x509.Certificate {
	t.Helper()
	if len(cfg.Certificates) != 1 {
		t.Fatalf("config has %d certificates, want 1", len(cfg.Certificates))
	}
	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func startTLSServer(t *testing.T, cfg *tls.Config) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from patchgate")
	}))
	srv.TLS = cfg
	srv.Config.ErrorLog = quietLog // refused handshakes are the point of most tests
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

var quietLog = log.New(io.Discard, "", 0)

func get(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

var fingerprintRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestEnsureServerTLSCreatesAndReloads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls") // created by EnsureServerTLS
	now := time.Now()
	cfg, fp := ensure(t, dir, nil, now)

	if !fingerprintRE.MatchString(fp) {
		t.Fatalf("fingerprint %q is not 64 lowercase hex", fp)
	}
	if got, err := FingerprintFile(filepath.Join(dir, CACertFile)); err != nil || got != fp {
		t.Fatalf("FingerprintFile(ca.crt) = %q, %v; want %q", got, err, fp)
	}
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x, want TLS 1.2", cfg.MinVersion)
	}

	// Key files are private; certificates are not.
	wantModes := map[string]os.FileMode{CAKeyFile: 0o600, ServerKeyFile: 0o600, CACertFile: 0o644, ServerCertFile: 0o644}
	for name, want := range wantModes {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("dir holds %d entries, want the 4 files (no temp files left)", len(entries))
	}

	// The chain carries the CA, which is what the fingerprint names.
	chain := cfg.Certificates[0].Certificate
	if len(chain) != 2 {
		t.Fatalf("chain length = %d, want leaf + CA", len(chain))
	}
	ca, err := x509.ParseCertificate(chain[1])
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(ca) != fp || !ca.IsCA {
		t.Fatalf("second certificate in chain is not the pinned CA")
	}
	if d := ca.NotAfter.Sub(now); d < 3640*day || d > 3660*day {
		t.Errorf("CA valid for %v, want ~10 years", d)
	}
	leaf := leafOf(t, cfg)
	if d := leaf.NotAfter.Sub(now); d < 364*day || d > 366*day {
		t.Errorf("server certificate valid for %v, want ~1 year", d)
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		t.Errorf("server certificate not signed by the CA: %v", err)
	}
	if !slices.Equal(leaf.DNSNames, []string{"localhost"}) {
		t.Errorf("DNSNames = %v", leaf.DNSNames)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Equal(ips, []string{"127.0.0.1", "::1"}) {
		t.Errorf("IPAddresses = %v", ips)
	}

	// A second start loads the same CA and server certificate.
	cfg2, fp2 := ensure(t, dir, nil, now.Add(time.Minute))
	if fp2 != fp {
		t.Fatalf("fingerprint after reload = %s, want %s", fp2, fp)
	}
	if !bytes.Equal(cfg2.Certificates[0].Certificate[0], chain[0]) {
		t.Fatal("server certificate was reissued on reload; want it kept")
	}
}

func TestPinnedClientConnects(t *testing.T) {
	dir := t.TempDir()
	cfg, fp := ensure(t, dir, nil, time.Now())
	srv := startTLSServer(t, cfg)

	// The canonical form and the openssl form of the same pin both work, by
	// IP address and by name.
	colon := strings.ToUpper(regexp.MustCompile(`(..)`).ReplaceAllString(fp, "$1:"))
	colon = strings.TrimSuffix(colon, ":")
	localhostURL := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	for _, pin := range []string{fp, colon} {
		client, err := NewHTTPClient(pin, 5*time.Second)
		if err != nil {
			t.Fatalf("NewHTTPClient(%q): %v", pin, err)
		}
		for _, url := range []string{srv.URL, localhostURL} {
			body, err := get(client, url)
			if err != nil || body != "hello from patchgate" {
				t.Fatalf("GET %s with pin %s = %q, %v", url, pin, body, err)
			}
		}
		client.CloseIdleConnections()
	}
}

func TestHTTPClientReusesConnectionsAndSpeaksHTTP2(t *testing.T) {
	cfg, fp := ensure(t, t.TempDir(), nil, time.Now())
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)

	client, err := NewHTTPClient(fp, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		reused := false
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", srv.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "HTTP/2.0" {
			t.Errorf("request %d used %s, want HTTP/2.0", i, body)
		}
		if i > 0 && !reused {
			t.Errorf("request %d opened a new connection", i)
		}
	}
}

func TestWrongPinRefused(t *testing.T) {
	cfg, fp := ensure(t, t.TempDir(), nil, time.Now())
	srv := startTLSServer(t, cfg)
	wrong := strings.Repeat("ab", 32)
	client, err := NewHTTPClient(wrong, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = get(client, srv.URL)
	if err == nil {
		t.Fatal("GET with a wrong pin succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"expected CA fingerprint " + wrong, fp, "not the pinned server"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}

func TestOtherCAWithSameHostsRefused(t *testing.T) {
	_, pinned := ensure(t, t.TempDir(), nil, time.Now())
	impostorCfg, impostorFP := ensure(t, t.TempDir(), nil, time.Now())
	if impostorFP == pinned {
		t.Fatal("two directories produced the same CA")
	}
	srv := startTLSServer(t, impostorCfg)
	client, err := NewHTTPClient(pinned, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = get(client, srv.URL)
	if err == nil {
		t.Fatal("client pinned to one CA accepted a server of another CA with the same host names")
	}
	if !strings.Contains(err.Error(), pinned) || !strings.Contains(err.Error(), impostorFP) {
		t.Errorf("error %q should name the expected %s and the seen %s", err, pinned, impostorFP)
	}
}

// dialPinned does a bare TLS handshake so the test controls the server name
// and the clock.
func dialPinned(t *testing.T, addr, fp, serverName string, now time.Time) error {
	t.Helper()
	cfg, err := PinnedClientConfigFor(fp, serverName)
	if err != nil {
		t.Fatal(err)
	}
	if !now.IsZero() {
		cfg.Time = func() time.Time { return now }
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err == nil {
		conn.Close()
	}
	return err
}

func TestPinnedClientStillVerifiesNameAndExpiry(t *testing.T) {
	now := time.Now()
	cfg, fp := ensure(t, t.TempDir(), nil, now)
	srv := startTLSServer(t, cfg)
	addr := srv.Listener.Addr().String()

	if err := dialPinned(t, addr, fp, "127.0.0.1", time.Time{}); err != nil {
		t.Fatalf("handshake with right pin and name: %v", err)
	}
	err := dialPinned(t, addr, fp, "updates.evil.example", time.Time{})
	if err == nil || !strings.Contains(err.Error(), "updates.evil.example") {
		t.Errorf("handshake with a name the certificate lacks: err = %v, want a name error", err)
	}
	err = dialPinned(t, addr, fp, "", time.Time{})
	if err == nil || !strings.Contains(err.Error(), "no server name") {
		t.Errorf("handshake without server name: err = %v, want refusal", err)
	}
	err = dialPinned(t, addr, fp, "127.0.0.1", now.Add(400*day))
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("handshake after the certificate expired: err = %v, want expiry error", err)
	}
}

// PinnedClientConfig verifies the name crypto/tls reports, which it does
// for DNS names only.
func TestPinnedClientConfigUsesReportedName(t *testing.T) {
	cfg, fp := ensure(t, t.TempDir(), nil, time.Now())
	srv := startTLSServer(t, cfg)
	addr := srv.Listener.Addr().String()
	dial := func(serverName string) error {
		c, err := PinnedClientConfig(fp)
		if err != nil {
			t.Fatal(err)
		}
		c.ServerName = serverName
		conn, err := tls.Dial("tcp", addr, c)
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := dial("localhost"); err != nil {
		t.Errorf("ServerName localhost: %v", err)
	}
	if err := dial("other.example"); err == nil || !strings.Contains(err.Error(), "other.example") {
		t.Errorf("ServerName other.example: err = %v, want name error", err)
	}
	if err := dial("127.0.0.1"); err == nil || !strings.Contains(err.Error(), "PinnedClientConfigFor") {
		t.Errorf("IP address without PinnedClientConfigFor: err = %v, want refusal with hint", err)
	}
}

func TestServerRefusesOldTLS(t *testing.T) {
	cfg, fp := ensure(t, t.TempDir(), nil, time.Now())
	srv := startTLSServer(t, cfg)
	client, err := PinnedClientConfigFor(fp, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	client.MinVersion = tls.VersionTLS10
	client.MaxVersion = tls.VersionTLS11
	if conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), client); err == nil {
		conn.Close()
		t.Fatal("server accepted TLS 1.1")
	}
}

func TestHTTPClientIgnoresProxyEnvironment(t *testing.T) {
	// A name that is not loopback: Go never proxies localhost anyway.
	const host = "updates.patchgate.test"
	cfg, fp := ensure(t, t.TempDir(), []string{host}, time.Now())
	srv := startTLSServer(t, cfg)

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxyURL := "http://" + closed.Addr().String()
	closed.Close()
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"} {
		t.Setenv(k, proxyURL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	client, err := NewHTTPClient(fp, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tr := client.Transport.(schemeOnly).next
	if tr.Proxy != nil {
		t.Fatal("transport has a Proxy function; want nil")
	}
	if tr.MaxIdleConnsPerHost < 2 || tr.TLSHandshakeTimeout == 0 || tr.ResponseHeaderTimeout == 0 {
		t.Errorf("transport lacks connection reuse or timeouts: %+v", tr)
	}
	// Resolve the test name to the test server; everything else, a proxy
	// included, is dialled for real.
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == host+":443" {
			addr = srv.Listener.Addr().String()
		}
		return dial(ctx, network, addr)
	}

	url := "https://" + host + "/"
	body, err := get(client, url)
	if err != nil || body != "hello from patchgate" {
		t.Fatalf("GET %s with proxy variables set = %q, %v", url, body, err)
	}

	// Control: the same transport following the environment fails, so the
	// environment above really points at a dead proxy. ProxyFromEnvironment
	// reads the environment once per process; if something read it before
	// t.Setenv, there is nothing to compare against.
	req, _ := http.NewRequest("GET", url, nil)
	if p, _ := http.ProxyFromEnvironment(req); p != nil {
		ctl := tr.Clone()
		ctl.Proxy = http.ProxyFromEnvironment
		if _, err := get(&http.Client{Transport: ctl, Timeout: 5 * time.Second}, url); err == nil {
			t.Error("control: a transport honouring the proxy environment succeeded; the test proves nothing")
		}
	} else {
		t.Log("proxy environment was read before this test; control skipped")
	}
}

func TestClientsRefuseOtherSchemes(t *testing.T) {
	cfg, fp := ensure(t, t.TempDir(), nil, time.Now())
	tlsSrv := startTLSServer(t, cfg)
	plainSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, tlsSrv.URL, http.StatusFound)
			return
		}
		io.WriteString(w, "plain")
	}))
	t.Cleanup(plainSrv.Close)
	// A TLS server that redirects to plain HTTP.
	downgrade := httptest.NewUnstartedServer(http.RedirectHandler(plainSrv.URL, http.StatusFound))
	downgrade.TLS = cfg.Clone()
	downgrade.Config.ErrorLog = quietLog
	downgrade.StartTLS()
	t.Cleanup(downgrade.Close)

	pinned, err := NewHTTPClient(fp, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(pinned, plainSrv.URL); err == nil || !strings.Contains(err.Error(), "only https") {
		t.Errorf("pinned client GET http:// err = %v, want refusal", err)
	}
	if _, err := get(pinned, downgrade.URL); err == nil || !strings.Contains(err.Error(), "only https") {
		t.Errorf("pinned client followed a redirect to http://: err = %v", err)
	}

	insecure := NewInsecureHTTPClient(5 * time.Second)
	if body, err := get(insecure, plainSrv.URL); err != nil || body != "plain" {
		t.Errorf("insecure client GET http:// = %q, %v", body, err)
	}
	if _, err := get(insecure, tlsSrv.URL); err == nil || !strings.Contains(err.Error(), "only http") {
		t.Errorf("insecure client GET https:// err = %v, want refusal", err)
	}
	if insecure.Transport.(schemeOnly).next.Proxy != nil {
		t.Error("insecure transport has a Proxy function; want nil")
	}
}

func TestNewHTTPClientNeedsFingerprint(t *testing.T) {
	for _, fp := range []string{"", "  ", "not-a-fingerprint"} {
		if _, err := NewHTTPClient(fp, time.Second); err == nil {
			t.Errorf("NewHTTPClient(%q) succeeded", fp)
		}
	}
}

func TestRenewalNearExpiry(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	cfg, fp := ensure(t, dir, nil, start)
	first := leafOf(t, cfg)

	// 31 days before expiry: kept.
	cfg, fp2 := ensure(t, dir, nil, first.NotAfter.Add(-31*day))
	if fp2 != fp || leafOf(t, cfg).SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatal("server certificate renewed more than 30 days before expiry")
	}

	// 29 days before expiry: renewed from the same CA, with a new key.
	later := first.NotAfter.Add(-29 * day)
	cfg, fp3 := ensure(t, dir, nil, later)
	renewed := leafOf(t, cfg)
	if fp3 != fp {
		t.Fatalf("CA fingerprint changed on renewal: %s -> %s", fp, fp3)
	}
	if renewed.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("server certificate not renewed 29 days before expiry")
	}
	if bytes.Equal(renewed.RawSubjectPublicKeyInfo, first.RawSubjectPublicKeyInfo) {
		t.Error("renewed certificate reuses the old key")
	}
	if d := renewed.NotAfter.Sub(later); d < 364*day || d > 366*day {
		t.Errorf("renewed certificate valid for %v after renewal, want ~1 year", d)
	}
	if fi, err := os.Stat(filepath.Join(dir, ServerKeyFile)); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Errorf("server.key after renewal: %v, %v", fi.Mode(), err)
	}
	// The files hold the renewed certificate, so the next start keeps it.
	cfg, _ = ensure(t, dir, nil, later.Add(day))
	if leafOf(t, cfg).SerialNumber.Cmp(renewed.SerialNumber) != 0 {
		t.Fatal("renewed certificate was not persisted")
	}

	// A pinned client living at that later time accepts the renewed server
	// and would have refused the old certificate soon after.
	srv := startTLSServer(t, cfg)
	addr := srv.Listener.Addr().String()
	if err := dialPinned(t, addr, fp, "localhost", later.Add(day)); err != nil {
		t.Fatalf("pinned handshake with the renewed certificate: %v", err)
	}
}

func TestHostsChangeReissues(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cfg, fp := ensure(t, dir, []string{"Updates.Example.COM.", "10.0.0.5", "[fd00::1]"}, now)
	leaf := leafOf(t, cfg)
	if !slices.Equal(leaf.DNSNames, []string{"updates.example.com"}) || len(leaf.IPAddresses) != 2 {
		t.Fatalf("SANs = %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	// A subset of the names is still covered.
	cfg, _ = ensure(t, dir, []string{"updates.example.com"}, now)
	if leafOf(t, cfg).SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Error("certificate reissued although it covers the requested host")
	}
	// A new name needs a new certificate, from the same CA.
	cfg, fp2 := ensure(t, dir, []string{"patch.example.com"}, now)
	if got := leafOf(t, cfg).DNSNames; !slices.Equal(got, []string{"patch.example.com"}) || fp2 != fp {
		t.Errorf("after host change: DNSNames = %v, fingerprint changed %v", got, fp2 != fp)
	}

	for _, bad := range []string{"", "exa mple.com", "a/b", "-bad.example", "*", "x..y"} {
		if _, _, err := EnsureServerTLS(dir, []string{bad}, now); err == nil {
			t.Errorf("host %q accepted", bad)
		}
	}
}

func TestCAIsNeverSilentlyReplaced(t *testing.T) {
	dir := t.TempDir()
	_, fp := ensure(t, dir, nil, time.Now())

	// Key lost: refuse, keep the certificate agents pinned.
	if err := os.Remove(filepath.Join(dir, CAKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := EnsureServerTLS(dir, nil, time.Now()); err == nil {
		t.Fatal("EnsureServerTLS succeeded without the CA key")
	}
	if got, _ := FingerprintFile(filepath.Join(dir, CACertFile)); got != fp {
		t.Fatal("ca.crt was replaced")
	}

	// A key that does not belong to the certificate: refuse too.
	other := t.TempDir()
	ensure(t, other, nil, time.Now())
	key, _ := os.ReadFile(filepath.Join(other, CAKeyFile))
	if err := os.WriteFile(filepath.Join(dir, CAKeyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := EnsureServerTLS(dir, nil, time.Now()); err == nil {
		t.Fatal("EnsureServerTLS accepted a CA key of another CA")
	}

	// A key without a certificate is a first start that stopped half-way:
	// a CA is created.
	half := t.TempDir()
	if err := os.WriteFile(filepath.Join(half, CAKeyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, fp3 := ensure(t, half, nil, time.Now()); !fingerprintRE.MatchString(fp3) {
		t.Fatalf("fingerprint %q", fp3)
	}
}

func TestDamagedServerCertIsReissued(t *testing.T) {
	dir := t.TempDir()
	_, fp := ensure(t, dir, nil, time.Now())
	if err := os.WriteFile(filepath.Join(dir, ServerCertFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, fp2 := ensure(t, dir, nil, time.Now())
	if fp2 != fp || len(cfg.Certificates) != 1 {
		t.Fatalf("after damaged server.crt: fingerprint %s (want %s)", fp2, fp)
	}
}

func TestLoadServerTLS(t *testing.T) {
	dir := t.TempDir()
	_, fp := ensure(t, dir, nil, time.Now())
	cfg, err := LoadServerTLS(filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || len(cfg.Certificates) != 1 {
		t.Fatalf("config = %+v", cfg)
	}
	// server.crt holds only the leaf: a client pinned to the CA cannot
	// build the chain; one pinned to the leaf itself trusts exactly that
	// certificate, still checking its name.
	srv := startTLSServer(t, cfg)
	leafFP, err := FingerprintFile(filepath.Join(dir, ServerCertFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := dialPinned(t, srv.Listener.Addr().String(), fp, "127.0.0.1", time.Time{}); err == nil {
		t.Error("CA pin accepted a chain without the CA")
	}
	if err := dialPinned(t, srv.Listener.Addr().String(), leafFP, "127.0.0.1", time.Time{}); err != nil {
		t.Errorf("leaf pin: %v", err)
	}
	if err := dialPinned(t, srv.Listener.Addr().String(), leafFP, "other.example", time.Time{}); err == nil {
		t.Error("leaf pin accepted a name the leaf does not carry")
	}

	if _, err := LoadServerTLS(filepath.Join(dir, "missing.crt"), filepath.Join(dir, ServerKeyFile)); err == nil {
		t.Error("LoadServerTLS with a missing file succeeded")
	}
	if _, err := LoadServerTLS(filepath.Join(dir, ServerCertFile), filepath.Join(dir, CAKeyFile)); err == nil {
		t.Error("LoadServerTLS with a mismatched key succeeded")
	}
}

func TestFingerprintFileErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "x.crt")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	for _, p := range []string{notPEM, filepath.Join(dir, "missing.crt")} {
		if _, err := FingerprintFile(p); err == nil {
			t.Errorf("FingerprintFile(%s) succeeded", p)
		}
	}
}

func TestNormalizeFingerprint(t *testing.T) {
	canon := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	colon := "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF"
	good := []string{canon, strings.ToUpper(canon), colon, strings.ToLower(colon), " " + canon + "\n"}
	for _, s := range good {
		if got, err := NormalizeFingerprint(s); err != nil || got != canon {
			t.Errorf("NormalizeFingerprint(%q) = %q, %v", s, got, err)
		}
	}
	bad := []string{
		"",
		canon[:63],
		canon + "0",
		canon[:63] + "g",
		"sha256:" + canon,
		colon + ":",
		":" + colon,
		strings.Replace(colon, ":", "", 1), // one group of 4
		strings.ReplaceAll(colon, ":", "-"),
		strings.ReplaceAll(colon, ":", " "),
		canon[:32] + " " + canon[32:],
	}
	for _, s := range bad {
		if got, err := NormalizeFingerprint(s); err == nil {
			t.Errorf("NormalizeFingerprint(%q) = %q, want error", s, got)
		}
	}
}

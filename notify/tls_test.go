package notify

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate/notify/mailsink"
)

// testCert borrows httptest's certificate for 127.0.0.1 and a pool that
// trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	defer ts.Close()
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	return ts.TLS.Certificates[0], pool
}

func TestSMTPTLSAndAuth(t *testing.T) {
	cert, pool := testCert(t)
	for _, mode := range []string{TLSStartTLS, TLSImplicit} {
		t.Run(mode, func(t *testing.T) {
			sink, err := mailsink.StartWith(mailsink.Options{
				TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, Implicit: mode == TLSImplicit,
				User: "relay", Password: "s3cret",
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			host, port, _ := net.SplitHostPort(sink.Addr)
			p, _ := strconv.Atoi(port)
			cfg := Config{ServerName: "site", SMTP: SMTPConfig{Host: host, Port: p, TLS: mode, User: "relay", Password: "s3cret",
				From: "patchgate@example.org", Timeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: pool, ServerName: host}}}
			if err := cfg.SMTP.Validate(); err != nil {
				t.Fatal(err)
			}
			out, err := New(cfg).SendTest(t.Context(), "me@example.org")
			if err != nil || !strings.Contains(out, "accepted") {
				t.Fatalf("SendTest = %q, %v", out, err)
			}
			if len(sink.To("me@example.org")) != 1 {
				t.Fatal("no mail arrived")
			}
			cfg.SMTP.Password = "wrong"
			if _, err := New(cfg).SendTest(t.Context(), "me@example.org"); err == nil {
				t.Error("a wrong password was accepted")
			}
			cfg.SMTP.Password = "s3cret"
			cfg.SMTP.TLSConfig = &tls.Config{ServerName: host} // system roots do not trust the sink
			if _, err := New(cfg).SendTest(t.Context(), "me@example.org"); err == nil {
				t.Error("an untrusted certificate was accepted")
			}
		})
	}
}

func TestSMTPStartTLSRequired(t *testing.T) {
	sink, err := mailsink.Start() // offers no STARTTLS
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	host, port, _ := net.SplitHostPort(sink.Addr)
	p, _ := strconv.Atoi(port)
	d := New(Config{SMTP: SMTPConfig{Host: host, Port: p, TLS: TLSStartTLS, From: "patchgate@example.org", Timeout: 5 * time.Second}})
	if _, err := d.SendTest(t.Context(), "me@example.org"); err == nil {
		t.Fatal("starttls mode sent in clear text")
	}
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("%d mails went out in clear text", n)
	}
}

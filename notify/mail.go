package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/patchgate/patchgate"
)

// TLS modes of the SMTP connection.
const (
	TLSNone     = "none"
	TLSStartTLS = "starttls"
	TLSImplicit = "implicit"
)

// SMTPConfig says how to reach the mail relay. cmd/ fills it from flags.
type SMTPConfig struct {
	Host     string
	Port     int
	TLS      string // none, starttls (required) or implicit
	User     string // empty: no authentication
	Password string
	From     string // envelope and header sender
	Timeout  time.Duration
	// TLSConfig overrides the TLS settings (default: system roots,
	// ServerName = Host).
	TLSConfig *tls.Config
}

// Validate checks c.
func (c SMTPConfig) Validate() error {
	if c.Host == "" {
		return patchgate.Invalid("--smtp-host", "is required")
	}
	if c.Port <= 0 || c.Port > 65535 {
		return patchgate.Invalid("--smtp-port", "must be between 1 and 65535")
	}
	switch c.TLS {
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return patchgate.Invalid("--smtp-tls", "must be none, starttls or implicit, not %q", c.TLS)
	}
	if err := patchgate.ValidAddress("--mail-from", c.From); err != nil {
		return err
	}
	if c.Password != "" && c.User == "" {
		return patchgate.Invalid("--smtp-user", "is required with a password")
	}
	return nil
}

// message is one mail, rendered.
type message struct {
	ID       string // Message-ID without brackets
	To       string
	Subject  string
	Text     string
	HTML     string
	Unsub    string // one-click unsubscribe URL, "" for none
	Date     time.Time
	ServerID string
	// Inline images the HTML part shows (src="cid:NAME"): the mail is
	// then multipart/related around the multipart/alternative.
	Inline []inlineImage
}

// inlineImage is a PNG the HTML part refers to by Content-ID.
type inlineImage struct {
	Name string // also the Content-ID
	Data []byte
}

// permanentError marks a failure that retrying will not fix (a 5xx reply).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether err is a permanent delivery failure.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// errNoRelay is temporary: the mail waits in the outbox for a relay.
var errNoRelay = errors.New("mail is not configured on this server (serve --smtp-host)")

// mailer sends messages over SMTP with go-mail.
type mailer struct{ cfg SMTPConfig }

func (m mailer) client() (*mail.Client, error) {
	opts := []mail.Option{mail.WithPort(m.cfg.Port), mail.WithTimeout(m.cfg.Timeout)}
	switch m.cfg.TLS {
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	}
	if m.cfg.TLSConfig != nil {
		opts = append(opts, mail.WithTLSConfig(m.cfg.TLSConfig))
	}
	if m.cfg.User != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(m.cfg.User), mail.WithPassword(m.cfg.Password))
	}
	return mail.NewClient(m.cfg.Host, opts...)
}

// send delivers msg. A 5xx reply is returned as a permanentError.
func (m mailer) send(ctx context.Context, msg message) error {
	if m.cfg.Host == "" {
		return errNoRelay
	}
	mm := mail.NewMsg()
	if err := mm.From(m.cfg.From); err != nil {
		return permanentError{fmt.Errorf("sender %q: %w", m.cfg.From, err)}
	}
	if err := mm.To(msg.To); err != nil {
		return permanentError{fmt.Errorf("recipient %q: %w", msg.To, err)}
	}
	mm.Subject(msg.Subject)
	mm.SetMessageIDWithValue(msg.ID)
	mm.SetDateWithValue(msg.Date)
	mm.SetGenHeader(mail.HeaderXMailer, "patchgate")
	mm.SetGenHeader(mail.Header("X-Patchgate-Server"), msg.ServerID)
	if msg.Unsub != "" {
		mm.SetListUnsubscribe(msg.Unsub)
		mm.SetListUnsubscribePost()
	}
	mm.SetBodyString(mail.TypeTextPlain, msg.Text)
	mm.AddAlternativeString(mail.TypeTextHTML, msg.HTML)
	for _, img := range msg.Inline {
		if err := mm.EmbedReader(img.Name, bytes.NewReader(img.Data), mail.WithFileContentID("<"+img.Name+">"),
			mail.WithFileContentType("image/png")); err != nil {
			return permanentError{err}
		}
	}
	c, err := m.client()
	if err != nil {
		return permanentError{err}
	}
	if err := c.DialAndSendWithContext(ctx, mm); err != nil {
		var se *mail.SendError
		if errors.As(err, &se) {
			if code := se.ErrorCode(); code >= 500 && code < 600 {
				return permanentError{err}
			}
		}
		return err
	}
	return nil
}

// messageDomain is the right-hand side of Message-IDs: the sender's domain.
func messageDomain(from string) string {
	if _, d, ok := strings.Cut(from, "@"); ok && d != "" {
		return d
	}
	return "patchgate.invalid"
}

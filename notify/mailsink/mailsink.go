// Package mailsink is a real SMTP server for tests: it listens on a
// loopback port, records every message it accepts, and can be told to
// refuse messages with a temporary (4xx) or permanent (5xx) error.
//
// It is for tests only; nothing in the server or agent imports it.
package mailsink

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/mail"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one accepted mail.
type Message struct {
	From   string
	To     []string
	Data   []byte
	Header mail.Header
	Body   []byte
}

// MessageID returns the Message-ID header.
func (m Message) MessageID() string { return m.Header.Get("Message-ID") }

// Sink is a running SMTP server.
type Sink struct {
	Addr string // host:port
	srv  *smtp.Server
	ln   net.Listener

	mu       sync.Mutex
	msgs     []Message
	failures []error // consumed one per DATA: nil accepts
	rejectTo map[string]error
	notify   chan struct{}
	opts     Options
}

// Options make a sink stricter than the plain default.
type Options struct {
	// TLS, if set, is offered with STARTTLS, or from the first byte with
	// Implicit.
	TLS      *tls.Config
	Implicit bool
	// User and Password, if set, are required (AUTH PLAIN) before MAIL.
	User, Password string
	// Addr to listen on (default 127.0.0.1:0): a restarted sink can take
	// the port of a stopped one.
	Addr string
	// Keep, if set, is called with each message before it is accepted; an
	// error refuses it (a temporary failure), so that a sink process that
	// writes messages to disk only says "250 OK" once they are written.
	Keep func(Message) error
}

// Start starts a plain sink on 127.0.0.1:0; call Close when done.
func Start() (*Sink, error) { return StartWith(Options{}) }

// StartWith starts a sink with o.
func StartWith(o Options) (*Sink, error) {
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Sink{Addr: ln.Addr().String(), rejectTo: map[string]error{}, notify: make(chan struct{}, 1), opts: o}
	if o.TLS != nil && o.Implicit {
		ln = tls.NewListener(ln, o.TLS)
	}
	srv := smtp.NewServer(s)
	if o.TLS != nil && !o.Implicit {
		srv.TLSConfig = o.TLS
	}
	srv.Domain = "mailsink.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 10 << 20
	s.srv = srv
	s.ln = ln
	go srv.Serve(ln)
	return s, nil
}

// Close stops the sink. It closes the listener itself too: the server
// knows of it only once Serve has started, which may not have happened yet.
func (s *Sink) Close() error {
	s.ln.Close()
	return s.srv.Close()
}

// FailNext makes the next len(errs) DATA commands answer with errs in order
// (a nil entry accepts).
func (s *Sink) FailNext(errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, errs...)
}

// RejectRecipient makes RCPT TO addr fail with err (nil: accept again).
func (s *Sink) RejectRecipient(addr string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.rejectTo, addr)
	} else {
		s.rejectTo[addr] = err
	}
}

// Temporary is a 451 reply.
var Temporary = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}

// Permanent is a 550 reply.
var Permanent = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}

// Messages returns a copy of what was accepted so far.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// To returns the accepted messages addressed to addr.
func (s *Sink) To(addr string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		for _, t := range m.To {
			if t == addr {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// Wait waits until cond holds of the accepted messages or timeout passes,
// and reports whether it held.
func (s *Sink) Wait(timeout time.Duration, cond func([]Message) bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if cond(s.Messages()) {
			return true
		}
		select {
		case <-s.notify:
		case <-time.After(20 * time.Millisecond):
		case <-deadline.C:
			return cond(s.Messages())
		}
	}
}

// NewSession implements smtp.Backend.
func (s *Sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{sink: s}, nil }

type session struct {
	sink   *Sink
	from   string
	to     []string
	authed bool
}

// AuthMechanisms implements smtp.AuthSession.
func (ss *session) AuthMechanisms() []string {
	if ss.sink.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth implements smtp.AuthSession.
func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.sink.opts.User || pass != ss.sink.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.sink.opts.User != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.sink.mu.Lock()
	err := ss.sink.rejectTo[to]
	ss.sink.mu.Unlock()
	if err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.sink
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		if f != nil {
			return f
		}
	}
	m := Message{From: ss.from, To: append([]string(nil), ss.to...), Data: data}
	pm, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return errors.Join(&smtp.SMTPError{Code: 554, Message: "unparsable message"}, err)
	}
	m.Header = pm.Header
	m.Body, _ = io.ReadAll(pm.Body)
	if s.opts.Keep != nil {
		if err := s.opts.Keep(m); err != nil {
			return errors.Join(&smtp.SMTPError{Code: 451, Message: "cannot keep the message"}, err)
		}
	}
	s.msgs = append(s.msgs, m)
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

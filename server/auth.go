package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
)

// Secrets look like "pgt.<id>.<secret>" (API token), "pge.<id>.<secret>"
// (enrolment token) and "pgh.<host>.<secret>" (host credential). The id
// part finds the stored record; only the SHA-256 of the whole string is
// stored, and it is compared in constant time.
const (
	prefixAPI    = "pgt"
	prefixEnroll = "pge"
	prefixHost   = "pgh"
)

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// newSecret returns a fresh secret for id and its hash.
func newSecret(prefix, id string) (secret string, hash []byte) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	secret = prefix + "." + id + "." + base64.RawURLEncoding.EncodeToString(b)
	return secret, hashSecret(secret)
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// parseSecret splits a secret into its id, if it has the expected prefix.
func parseSecret(prefix, s string) (id string, ok bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] != prefix || parts[1] == "" || len(parts[2]) != 43 || len(s) > 200 {
		return "", false
	}
	return parts[1], true
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

var errUnauthorized = patchgate.Errorf(patchgate.CodeUnauthorized, "missing, unknown, expired or revoked credential")

// authToken checks an API token.
func (s *Server) authToken(ctx context.Context, secret string) (patchgate.Token, error) {
	id, ok := parseSecret(prefixAPI, secret)
	if !ok {
		return patchgate.Token{}, errUnauthorized
	}
	t, err := s.store.GetToken(ctx, id)
	if err != nil {
		if patchgate.IsNotFound(err) {
			return t, errUnauthorized
		}
		return t, err
	}
	if t.Kind != patchgate.TokenAPI || t.Revoked || (t.ExpiresAt != nil && !s.now().Before(*t.ExpiresAt)) {
		return t, errUnauthorized
	}
	if subtle.ConstantTimeCompare(t.SecretHash, hashSecret(secret)) != 1 {
		return t, errUnauthorized
	}
	return t, nil
}

// BootstrapAdmin creates the first admin token if no API token exists yet
// and returns its secret (shown once), or "" if tokens already exist.
func (s *Server) BootstrapAdmin(ctx context.Context) (string, error) {
	n, err := s.store.CountTokens(ctx, patchgate.TokenAPI)
	if err != nil || n > 0 {
		return "", err
	}
	id := randomHex(6)
	secret, hash := newSecret(prefixAPI, id)
	now := s.now()
	t := patchgate.Token{ID: id, Kind: patchgate.TokenAPI, Name: "initial-admin", Role: patchgate.RoleAdmin, SecretHash: hash, CreatedAt: now, CreatedBy: "system"}
	ev := patchgate.Event{ID: "tok-" + id, Time: now, Type: patchgate.EventTokenCreated, Actor: "system", Detail: "initial admin token"}
	if err := s.store.CreateToken(ctx, t, ev); err != nil {
		return "", err
	}
	return secret, nil
}

// hostAuth is the cached credential of a host: the check-in hot path
// verifies it without touching the database.
type hostAuth struct {
	hash []byte
}

// authHost checks a host credential and returns the host id.
func (s *Server) authHost(ctx context.Context, secret string) (string, error) {
	id, ok := parseSecret(prefixHost, secret)
	if !ok {
		return "", errUnauthorized
	}
	hash := hashSecret(secret)
	if a, ok := s.hosts.auth(id); ok {
		if subtle.ConstantTimeCompare(a.hash, hash) == 1 {
			return id, nil
		}
		return "", errUnauthorized
	}
	stored, err := s.store.HostCredential(ctx, id)
	if err != nil {
		if patchgate.IsNotFound(err) {
			return "", errUnauthorized
		}
		return "", err
	}
	if subtle.ConstantTimeCompare(stored, hash) != 1 {
		return "", errUnauthorized
	}
	s.hosts.setAuth(id, hostAuth{hash: stored})
	return id, nil
}

func parseDeadline(s string, now time.Time) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return nil, patchgate.Invalid("deadline", "duration must be positive")
		}
		t := now.Add(d).UTC()
		return &t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, patchgate.Invalid("deadline", "%q is neither a duration (72h) nor RFC 3339", s)
	}
	if !t.After(now) {
		return nil, patchgate.Invalid("deadline", "%s is in the past", s)
	}
	t = t.UTC()
	return &t, nil
}

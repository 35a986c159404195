package storetest

import (
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

func testTokens(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	for _, kind := range []patchgate.TokenKind{patchgate.TokenAPI, patchgate.TokenEnroll} {
		n, err := s.CountTokens(ctx, kind)
		must(t, err, "CountTokens")
		if n != 0 {
			t.Errorf("a new store has %d %s tokens", n, kind)
		}
	}

	expires := t0.Add(30 * 24 * time.Hour).In(elsewhere)
	uses := 5
	tokens := []patchgate.Token{
		{ID: "b-admin", Kind: patchgate.TokenAPI, Name: "bootstrap", Role: patchgate.RoleAdmin,
			SecretHash: []byte{0x00, 0xff, 0x10, 0x80, 0x7f}, CreatedAt: t0, CreatedBy: "setup"},
		{ID: "a-viewer", Kind: patchgate.TokenAPI, Name: "dashboard", Role: patchgate.RoleViewer,
			ExpiresAt: &expires, SecretHash: []byte("viewer-hash"), CreatedAt: t0.Add(time.Second).In(elsewhere), CreatedBy: "b-admin"},
		{ID: "c-enrol", Kind: patchgate.TokenEnroll, Name: "rack 12", Group: "rack12", Mode: patchgate.ModeManual,
			ExpiresAt: &expires, UsesLeft: &uses, SecretHash: []byte("enrol-hash"), CreatedAt: t0.Add(2 * time.Second), CreatedBy: "b-admin"},
	}
	for _, tok := range tokens {
		ev := newEvent(patchgate.EventTokenCreated)
		must(t, s.CreateToken(ctx, tok, ev), "CreateToken "+tok.ID)
		findEvent(t, s, ev.ID)
	}
	err := s.CreateToken(ctx, patchgate.Token{ID: "b-admin", Kind: patchgate.TokenAPI, Role: patchgate.RoleViewer, SecretHash: []byte("other"), CreatedAt: t0},
		newEvent(patchgate.EventTokenCreated))
	wantCode(t, err, patchgate.CodeConflict, "CreateToken with an existing ID")

	for _, want := range tokens {
		got, err := s.GetToken(ctx, want.ID)
		must(t, err, "GetToken "+want.ID)
		same(t, "GetToken "+want.ID, got, want)
	}
	list, err := s.ListTokens(ctx)
	must(t, err, "ListTokens")
	same(t, "ListTokens", list, []patchgate.Token{tokens[1], tokens[0], tokens[2]})

	for kind, want := range map[patchgate.TokenKind]int{patchgate.TokenAPI: 2, patchgate.TokenEnroll: 1} {
		n, err := s.CountTokens(ctx, kind)
		must(t, err, "CountTokens")
		if n != want {
			t.Errorf("CountTokens(%s) = %d, want %d", kind, n, want)
		}
	}

	ev := newEvent(patchgate.EventTokenRevoked)
	must(t, s.RevokeToken(ctx, "a-viewer", ev), "RevokeToken")
	findEvent(t, s, ev.ID)
	got, err := s.GetToken(ctx, "a-viewer")
	must(t, err, "GetToken")
	if !got.Revoked {
		t.Error("RevokeToken did not revoke")
	}
	want := tokens[1]
	want.Revoked = true
	same(t, "revoked token", got, want)

	err = s.RevokeToken(ctx, "nope", newEvent(patchgate.EventTokenRevoked))
	wantNotFound(t, err, "RevokeToken of an unknown token")
	_, err = s.GetToken(ctx, "nope")
	wantNotFound(t, err, "GetToken of an unknown token")
}

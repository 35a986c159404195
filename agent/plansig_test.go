package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
)

// Signed plans (issue #8, attack case 3 "replayed plan with an old nonce"
// and its kin). The fake server signs like the real one; a hook between
// it and the agent replays or alters its answers. Each refusal must fail
// the cycle with ErrPlanSignature, set Summary.PlanRefused, count it, run
// nothing, report no event of the item and leave staging empty.

// planEnv is an env whose agent requires plan signatures and whose plan
// offers one exec item (not yet set: offer does).
type planEnv struct {
	*env
	item    patchgate.PlanItem
	marker  string
	payload patchgate.Payload
}

func newPlanEnv(t *testing.T) *planEnv {
	e := newEnv(t)
	p, marker := e.scriptPayload("fix.sh", "")
	return &planEnv{env: e, item: installItem("fix-1", p), marker: marker, payload: p}
}

func (pe *planEnv) offer() { pe.srv.setItems(pe.item) }

func (pe *planEnv) refused(a *Agent, want string) {
	pe.t.Helper()
	before := a.PlanRefusals()
	sum, err := a.RunOnce(context.Background())
	if !errors.Is(err, agentapi.ErrPlanSignature) || !sum.PlanRefused {
		pe.t.Fatalf("RunOnce = %+v, %v; want a plan signature refusal", sum, err)
	}
	if !strings.Contains(err.Error(), want) {
		pe.t.Errorf("error %q does not say %q", err, want)
	}
	if a.PlanRefusals() != before+1 {
		pe.t.Errorf("refusals counted %d, want %d", a.PlanRefusals(), before+1)
	}
	if sum.Installed != 0 || sum.Failed != 0 || sum.NotModified {
		pe.t.Errorf("summary %+v: something of the refused answer was used", sum)
	}
	mustNotExist(pe.t, pe.marker)
	for _, ev := range pe.srv.eventList() {
		if ev.UpdateID == pe.item.UpdateID {
			pe.t.Errorf("event %s:%s reported for a refused plan", ev.UpdateID, ev.State)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(pe.stateDir, stagingDir))
	if len(entries) > 0 {
		pe.t.Errorf("staging not empty: %d entries", len(entries))
	}
}

// installsNow checks that, the hook removed, the next cycle installs.
func (pe *planEnv) installsNow(a *Agent) {
	pe.t.Helper()
	pe.srv.set(func(s *fakeServer) { s.answer = nil; s.signKey = nil })
	sum, err := a.RunOnce(context.Background())
	if err != nil || sum.Installed != 1 {
		pe.t.Fatalf("after the attack: %+v, %v; want the item installed", sum, err)
	}
	mustExist(pe.t, pe.marker)
	// The refusal reached the server as an admin alert once a check-in
	// got through.
	refusals := 0
	for _, ev := range pe.srv.eventList() {
		if ev.Type == patchgate.EventPlanRefused {
			refusals++
			if !strings.HasPrefix(ev.Detail, "check-in refused: ") || ev.UpdateID != "" {
				pe.t.Errorf("plan refusal event %+v", ev)
			}
		}
	}
	if refusals != a.PlanRefusals() {
		pe.t.Errorf("%d plan refusal events reported, want %d", refusals, a.PlanRefusals())
	}
}

// credential reads the agent's identity (to check in beside it).
func (pe *planEnv) identity() *identity {
	pe.t.Helper()
	var id identity
	if ok, err := readJSON(filepath.Join(pe.stateDir, identityFile), &id); !ok || err != nil {
		pe.t.Fatalf("identity: %v", err)
	}
	return &id
}

func TestPlanSignatureRefusals(t *testing.T) {
	cases := []struct {
		name string
		// attack sets up the server (the agent is enrolled, has carried
		// out an empty plan, and the item is offered now).
		attack func(pe *planEnv, a *Agent)
		want   string
	}{
		{"replayed 200 with an old nonce", func(pe *planEnv, a *Agent) {
			// An answer with the item, recorded from an earlier check-in
			// of this very host (another nonce), is replayed.
			id := pe.identity()
			c := &agentapi.Client{BaseURL: pe.srv.ts.URL, HTTP: pe.srv.ts.Client()}
			inv, err := a.inventory(&state{})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := c.Checkin(context.Background(), id.Credential, "", agentapi.CheckinRequest{Inventory: inv}); err != nil {
				t.Fatal(err)
			}
			pe.srv.set(func(s *fakeServer) {
				old := s.answers[len(s.answers)-1]
				if old.status != http.StatusOK || !bytes.Contains(old.body, []byte(pe.item.UpdateID)) {
					t.Fatalf("recorded answer %d %s", old.status, old.body)
				}
				s.answer = func(fakeAnswer) fakeAnswer { return old }
			})
		}, "does not verify"},
		{"replayed 304", func(pe *planEnv, a *Agent) {
			// The "not modified" answer to the last check-in, replayed
			// now that the plan has changed, would freeze the agent.
			pe.srv.set(func(s *fakeServer) {
				old := s.answers[len(s.answers)-1]
				if old.status != http.StatusNotModified {
					t.Fatalf("last answer %d, want a 304", old.status)
				}
				s.answer = func(fakeAnswer) fakeAnswer { return old }
			})
		}, "not-modified answer does not verify"},
		{"304 for another ETag", func(pe *planEnv, a *Agent) {
			pe.srv.set(func(s *fakeServer) {
				s.answer = func(ans fakeAnswer) fakeAnswer {
					ans.status, ans.body, ans.etag = http.StatusNotModified, nil, `"other"`
					ans.sig = agentapi.SignPlan(s.planKey, true, ans.nonce, "h-1", ans.etag, nil)
					return ans
				}
			})
		}, "not-modified answer for ETag"},
		{"altered body", func(pe *planEnv, a *Agent) {
			pe.srv.set(func(s *fakeServer) {
				s.answer = func(ans fakeAnswer) fakeAnswer {
					ans.body = bytes.Replace(ans.body, []byte(pe.marker), []byte(pe.marker+"-x"), 1)
					return ans
				}
			})
		}, "plan does not verify"},
		{"altered ETag", func(pe *planEnv, a *Agent) {
			pe.srv.set(func(s *fakeServer) {
				s.answer = func(ans fakeAnswer) fakeAnswer { ans.etag = `"forged"`; return ans }
			})
		}, "plan does not verify"},
		{"missing signature", func(pe *planEnv, a *Agent) {
			pe.srv.set(func(s *fakeServer) {
				s.answer = func(ans fakeAnswer) fakeAnswer { ans.sig = ""; return ans }
			})
		}, "not signed"},
		{"garbled signature", func(pe *planEnv, a *Agent) {
			pe.srv.set(func(s *fakeServer) {
				s.answer = func(ans fakeAnswer) fakeAnswer { ans.sig = "!!" + ans.sig[2:]; return ans }
			})
		}, "not a base64 Ed25519 signature"},
		{"wrong key", func(pe *planEnv, a *Agent) {
			k := otherPlanKey(t)
			pe.srv.set(func(s *fakeServer) { s.signKey = k })
		}, "plan does not verify"},
		{"another host's plan", func(pe *planEnv, a *Agent) {
			pe.srv.set(func(s *fakeServer) {
				s.answer = func(ans fakeAnswer) fakeAnswer {
					ans.sig = agentapi.SignPlan(s.planKey, false, ans.nonce, "h-2", ans.etag, ans.body)
					return ans
				}
			})
		}, "plan does not verify"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pe := newPlanEnv(t)
			a := pe.agent()
			ctx := context.Background()
			// An empty plan, carried out in full; then a 304.
			if _, err := a.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if sum, err := a.RunOnce(ctx); err != nil || !sum.NotModified {
				t.Fatalf("second cycle %+v, %v; want not modified", sum, err)
			}
			pe.offer()
			tc.attack(pe, a)
			pe.refused(a, tc.want)
			pe.installsNow(a)
		})
	}
}

// A long poll's 304 is verified too.
func TestPlanSignatureLongPoll(t *testing.T) {
	pe := newPlanEnv(t)
	a := pe.agent()
	ctx := context.Background()
	if _, err := a.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	pe.srv.set(func(s *fakeServer) {
		s.answer = func(ans fakeAnswer) fakeAnswer { ans.sig = ""; return ans }
	})
	sum, err := a.runOnce(ctx, 1e9)
	if !errors.Is(err, agentapi.ErrPlanSignature) || !sum.PlanRefused || sum.NotModified {
		t.Fatalf("long poll: %+v, %v; want refused", sum, err)
	}
	var waits []string
	pe.srv.set(func(s *fakeServer) { waits = s.waits })
	if len(waits) == 0 {
		t.Fatal("no long poll was made")
	}
}

// An agent enrolled before plans were signed learns the key once over its
// authenticated channel, then requires signatures.
func TestPlanKeyLearnedOnce(t *testing.T) {
	pe := newPlanEnv(t)
	pe.srv.set(func(s *fakeServer) { s.legacy = true })
	a := pe.agent()
	ctx := context.Background()
	if _, err := a.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	want := agentapi.EncodePlanKey(pe.srv.planKey.Public().(ed25519.PublicKey))
	if got := pe.identity().PlanKey; got != want {
		t.Fatalf("identity plan key %q, want %q (learned)", got, want)
	}
	// Pinned now: a server that stops signing is refused, even though
	// the endpoint would now give another key.
	pe.offer()
	k := otherPlanKey(t)
	pe.srv.set(func(s *fakeServer) { s.planKey, s.signKey = k, k })
	pe.refused(a, "does not verify")
}

func otherPlanKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A server without a plan key (it predates signed plans) is refused unless
// the agent allows unsigned plans.
func TestPlanKeyServerWithout(t *testing.T) {
	pe := newPlanEnv(t)
	pe.srv.set(func(s *fakeServer) { s.legacy, s.noPlanKey = true, true })
	pe.offer()
	a := pe.agent(func(c *Config) { c.AllowUnsigned = false })
	pe.refused(a, "the server has no plan key")

	// With --allow-unsigned its plans are carried out (the old behaviour).
	b := pe.agent()
	sum, err := b.RunOnce(context.Background())
	if err != nil || sum.Installed != 1 {
		t.Fatalf("allow-unsigned: %+v, %v", sum, err)
	}
	if pe.identity().PlanKey != "" {
		t.Error("a plan key was pinned from a server without one")
	}
}

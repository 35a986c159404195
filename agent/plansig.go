package agent

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
)

// Signed plans (issue #8). Every check-in sends a fresh random nonce; the
// answer, a plan or "not modified", must carry the server's signature by
// the plan key over that nonce, this host's id, the ETag and the exact
// body (agentapi.VerifyPlan) before anything of it is used. An unsigned,
// altered or replayed answer, another host's, or one signed by another key
// is refused: the cycle fails with an error whose text starts with
// "check-in refused: plan signature", it is logged and counted
// (Summary.PlanRefused, PlanRefusals), and nothing runs.
//
// The plan key is pinned at enrolment (EnrollResponse.PlanKey, kept in
// identity.json). An agent enrolled before plans were signed has none: it
// asks GET /agent/v1/plan-key once, with its credential over its pinned
// TLS connection (the same channel and trust as its enrolment), and pins
// the answer. A server that answers 404 there predates signed plans: its
// plans are refused unless Config.AllowUnsigned.

// planKey returns the pinned plan key, learning it first when the agent
// has none; nil (with no error) only for a server without one under
// Config.AllowUnsigned.
func (a *Agent) planKey(ctx context.Context, id *identity) (ed25519.PublicKey, error) {
	if id.PlanKey != "" {
		k, err := agentapi.ParsePlanKey("plan_key", id.PlanKey)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: re-enrol (--re-enroll)", a.path(identityFile), err)
		}
		return k, nil
	}
	if a.serverUnsigned {
		return nil, nil
	}
	k, err := a.api.PlanKey(ctx, id.Credential)
	if agentapi.HTTPStatus(err) == http.StatusNotFound {
		if !a.cfg.AllowUnsigned {
			return nil, a.refusedPlan(fmt.Errorf("%w: the server has no plan key (it predates signed plans): "+
				"its plans are refused (an agent for such a server needs --allow-unsigned)", agentapi.ErrPlanSignature))
		}
		a.log.Warn("the server does not sign plans (it predates signed plans): accepting unsigned plans (--allow-unsigned)")
		a.serverUnsigned = true
		return nil, nil
	}
	if err != nil {
		return nil, a.serverError(err, "fetching the plan key", true)
	}
	id.PlanKey = agentapi.EncodePlanKey(k)
	if err := a.saveIdentity(id); err != nil {
		return nil, fmt.Errorf("cannot store the plan key: %w", err)
	}
	a.log.Info("pinned the server's plan key (this agent was enrolled before plans were signed)", "plan_key", id.PlanKey)
	return k, nil
}

// refusedPlan records a check-in answer refused for its signature.
func (a *Agent) refusedPlan(err error) error {
	a.planRefusals++
	a.log.Error("check-in answer refused: nothing of it is carried out", "err", err)
	// Reported (with the other events, when a check-in gets through) as
	// an admin alert: someone may be between this host and its server.
	ev := patchgate.Event{ID: randomHex(16), Time: a.now().UTC(), Type: patchgate.EventPlanRefused,
		Detail: truncate("check-in refused: "+err.Error(), agentapi.MaxDetailLen)}
	if qerr := a.queueEvent(ev); qerr != nil {
		a.log.Error("cannot queue the plan refusal event", "err", qerr)
	}
	return fmt.Errorf("check-in refused: %w", err)
}

// PlanRefusals is how many check-in answers this Agent refused for their
// signature.
func (a *Agent) PlanRefusals() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.planRefusals
}

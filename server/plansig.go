package server

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/trust"
)

// Signed plans (issue #8): a check-in that carries the agent's nonce
// (agentapi.HeaderNonce) gets its answer, 200 or 304, signed by the plan
// key, bound to that nonce, the host, the ETag and (200) the exact body.
// A check-in without a nonce (an agent that predates signed plans) gets
// no signature.

func (s *Server) initPlanKey(k ed25519.PrivateKey) {
	if k == nil {
		var err error
		if k, err = trust.GenerateKey(); err != nil {
			panic(err) // crypto/rand does not fail on supported systems
		}
	}
	s.planKey = k
	s.planKeyText = agentapi.EncodePlanKey(k.Public().(ed25519.PublicKey))
}

// checkinNonce returns the check-in's nonce, "" when it sent none.
func checkinNonce(r *http.Request) (string, error) {
	nonce := r.Header.Get(agentapi.HeaderNonce)
	if nonce == "" {
		return "", nil
	}
	return nonce, agentapi.ValidNonce(nonce)
}

// notModified answers a check-in 304, signed when it carried a nonce.
func (s *Server) notModified(w http.ResponseWriter, hostID, nonce, etag string) {
	h := w.Header()
	h.Set("ETag", etag)
	if nonce != "" {
		h.Set(agentapi.HeaderPlanSignature, agentapi.SignPlan(s.planKey, true, nonce, hostID, etag, nil))
	}
	w.WriteHeader(http.StatusNotModified)
}

// writePlan answers a check-in 200 with resp, signing the exact body when
// the check-in carried a nonce.
func (s *Server) writePlan(w http.ResponseWriter, hostID, nonce, etag string, resp agentapi.CheckinResponse) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		s.log.Error("encoding a plan failed", "host", hostID, "err", err)
		writeJSON(w, http.StatusInternalServerError, agentapi.ErrorBody{Code: patchgate.CodeInternal, Message: "internal error"})
		return
	}
	h := w.Header()
	h.Set("ETag", etag)
	if nonce != "" {
		h.Set(agentapi.HeaderPlanSignature, agentapi.SignPlan(s.planKey, false, nonce, hostID, etag, buf.Bytes()))
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

// servePlanKey serves GET /agent/v1/plan-key to enrolled hosts: an agent
// enrolled before plans were signed learns the key once, over its pinned
// TLS connection and with its credential, and pins it from then on.
func (s *Server) servePlanKey(w http.ResponseWriter, r *http.Request) {
	if _, err := s.authHost(r.Context(), bearer(r)); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, agentapi.PlanKeyResponse{PlanKey: s.planKeyText})
}

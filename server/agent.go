package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
)

func (s *Server) enroll(w http.ResponseWriter, r *http.Request) {
	req, err := agentapi.DecodeEnroll(http.MaxBytesReader(w, r.Body, agentapi.MaxBodyBytes+1))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tokenID, ok := parseSecret(prefixEnroll, req.Token)
	if !ok {
		s.writeError(w, r, errUnauthorized)
		return
	}
	// The token's hash is checked here; its uses, expiry and revocation
	// atomically in the store.
	t, err := s.store.GetToken(r.Context(), tokenID)
	if err != nil || t.Kind != patchgate.TokenEnroll || subtle.ConstantTimeCompare(t.SecretHash, hashSecret(req.Token)) != 1 {
		if err != nil && !patchgate.IsNotFound(err) {
			s.writeError(w, r, err)
			return
		}
		s.writeError(w, r, errUnauthorized)
		return
	}
	now := s.now().UTC()
	inv := req.Inventory
	// The agent reports its mode at every check-in, so a token meant for
	// manual hosts must not enrol an agent that would install by itself.
	if t.Mode == patchgate.ModeManual && inv.Mode != patchgate.ModeManual {
		s.writeError(w, r, patchgate.Invalid("inventory.mode", "this enrolment token is for manual hosts: run the agent with --mode manual"))
		return
	}
	id := "h" + randomHex(8)
	secret, hash := newSecret(prefixHost, id)
	// No inventory digest yet: the first check-in stores the digest of its
	// body, which is what later check-ins are compared with.
	h := patchgate.Host{ID: id, Inventory: inv, EnrolledAt: now, LastCheckin: now}
	ev := patchgate.Event{ID: "enroll-" + id, Time: now, Type: patchgate.EventHostEnrolled, Actor: "host:" + id, HostID: id,
		Detail: "hostname " + inv.Hostname + ", machine " + req.MachineID + ", token " + t.ID}
	// Mass enrolment shares transactions (group commit); each enrolment
	// still succeeds or fails on its own.
	res, err := s.enrolls.do(r.Context(), patchgate.EnrollRecord{TokenID: tokenID, Now: now, Host: h, CredentialHash: hash, Event: ev})
	if err == nil {
		h, err = res.Host, res.Err
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.hosts.setAuth(id, hostAuth{hash: hash})
	s.hosts.setGroups(id, h.Groups)
	writeJSON(w, http.StatusCreated, agentapi.EnrollResponse{HostID: id, Credential: secret, Groups: h.Groups, TrustRoots: s.trustRoots(), PlanKey: s.planKeyText})
}

// planCacheKey identifies what a host's plan depends on beyond the
// snapshot: its inventory (the check-in body's digest) and the state of
// its maintenance windows.
func planCacheKey(digest, windowKey string) [8]byte {
	sum := sha256.Sum256([]byte(digest + "\x00" + windowKey))
	var k [8]byte
	copy(k[:], sum[:])
	return k
}

// contentETag is the ETag of a plan: a digest of its content, so that a
// change elsewhere (another group's approval, a new group) leaves the
// ETag of a host whose plan it does not alter as it was — a held long poll
// stays held and a check-in gets its 304.
func contentETag(plan patchgate.Plan) (string, error) {
	data, err := json.Marshal(plan)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return `"` + hex.EncodeToString(sum[:12]) + `"`, nil
}

// planFor computes a host's plan from snap before the rollout policy,
// which is decided only for a plan that is sent.
func (s *Server) planFor(snap *snapshot, hostID string, groups []string, inv patchgate.Inventory, windows []patchgate.CompiledWindow, now time.Time) patchgate.Plan {
	plan := patchgate.ComputePlan(snap.catalog, snap.approvals, planHost(snap, hostID, groups, inv))
	patchgate.ApplyWindows(&plan, now, windows)
	patchgate.ApplyInstallEstimates(&plan, now, windows, snap.estimates)
	s.stampRepos(snap, &plan)
	return plan
}

// checkin is the hot path. When the host's inventory and the plan
// generation are unchanged and the agent holds the current ETag, it answers
// 304 from memory: no database access.
func (s *Server) checkin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	hostID, err := s.authHost(ctx, bearer(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	nonce, err := checkinNonce(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, agentapi.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			err = &patchgate.Error{Code: patchgate.CodeTooLarge, Field: "body", Message: fmt.Sprintf("request body exceeds %d bytes", agentapi.MaxBodyBytes)}
		} else {
			err = patchgate.Invalid("body", "cannot read request body: %v", err)
		}
		s.writeError(w, r, err)
		return
	}
	// A long poll (agentapi.QueryWait) is held while the plan is the one
	// the agent has: the wake channel is taken before the snapshot is
	// read, so that a change in between is not missed.
	var wait time.Duration
	if r.URL.RawQuery != "" { // parsing it costs the hot path an allocation
		if wait, err = agentapi.ParseWait(r.URL.Query().Get(agentapi.QueryWait)); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	inm := r.Header.Get("If-None-Match")
	var wake <-chan struct{}
	if wait > 0 {
		wake = s.holds.wait()
	}
	now := s.now().UTC()
	// The digest is of the body as sent: an agent whose inventory did not
	// change sends the same bytes, which were validated and stored when
	// first seen, so the 304 answer needs neither decoding nor the store.
	// Otherwise the body is decoded once, here or after the ETag check.
	digest := bodyDigest(body)
	known, mode := s.hosts.sameDigest(hostID, digest)
	var req agentapi.CheckinRequest
	decoded := false
	decode := func() bool {
		if decoded {
			return true
		}
		if req, err = agentapi.DecodeCheckin(bytes.NewReader(body)); err != nil {
			s.writeError(w, r, err)
			return false
		}
		decoded = true
		return true
	}
	if known {
		s.touch(hostID, now)
	} else {
		if !decode() {
			return
		}
		mode = req.Inventory.Mode
	}
	var (
		snap    *snapshot
		groups  []string
		windows []patchgate.CompiledWindow
		key     [8]byte
		etag    string
		plan    patchgate.Plan
		planned bool      // plan is computed for snap, key and now
		holdEnd time.Time // zero until the request is held
	)
	for {
		if snap, err = s.snapshot(ctx); err != nil {
			s.writeError(w, r, err)
			return
		}
		if groups, err = s.hostGroups(ctx, snap, hostID); err != nil {
			s.writeError(w, r, err)
			return
		}
		var windowKey string
		windows, windowKey = s.hostWindows(snap, groups, mode, now)
		key = planCacheKey(digest, windowKey)
		planned = false
		cached, ok := s.hosts.planETag(hostID, snap.gen, key)
		switch {
		case ok && known:
			etag = cached // the fast path: no decoding, no plan
		default:
			// The snapshot, inventory or window state moved on since the
			// last plan: compute it; its ETag is its content's.
			if !decode() {
				return
			}
			plan = s.planFor(snap, hostID, groups, req.Inventory, windows, now)
			if etag, err = contentETag(plan); err != nil {
				s.writeError(w, r, patchgate.Internal(err, "plan ETag"))
				return
			}
			planned = true
			if known {
				s.hosts.setPlanETag(hostID, snap.gen, key, etag)
			}
		}
		if !known || inm != etag {
			break
		}
		if wait <= 0 || (!holdEnd.IsZero() && !time.Now().Before(holdEnd)) {
			s.notModified(w, hostID, nonce, etag)
			return
		}
		if holdEnd.IsZero() {
			if !s.holds.begin(hostID) {
				// A limit is reached (or the server is stopping): answer
				// now, as without a wait.
				s.notModified(w, hostID, nonce, etag)
				return
			}
			defer s.holds.end(hostID)
			holdEnd = time.Now().Add(wait)
			extendDeadlines(w, r, holdEnd)
		}
		// Wake at the end of the hold, or earlier when the host's windows
		// change state by themselves (the ETag includes their state).
		until := holdEnd
		if edge := snap.nextEdge(windows, now); !edge.IsZero() {
			if e := time.Now().Add(edge.Sub(now)); e.Before(until) {
				until = e
			}
		}
		select {
		case <-wake:
		case <-s.holds.after(until):
		case <-s.holds.closingCh():
			holdEnd = time.Now() // answer 304 now
		case <-ctx.Done():
			return
		}
		wake = s.holds.wait()
		now = s.now().UTC()
	}
	if !known {
		rec := patchgate.InventoryRecord{HostID: hostID, Inventory: req.Inventory, Digest: digest, At: now}
		if _, err := s.inventories.do(ctx, rec); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.hosts.setDigest(hostID, digest, mode)
		s.hosts.setPlanETag(hostID, snap.gen, key, etag)
		if inm == etag {
			// A new inventory that leaves the plan as the agent has it.
			s.notModified(w, hostID, nonce, etag)
			return
		}
	}
	if !planned {
		if !decode() {
			return
		}
		plan = s.planFor(snap, hostID, groups, req.Inventory, windows, now)
	}
	if err := s.applyRollouts(ctx, snap, hostID, mode, groups, &plan, now); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writePlan(w, hostID, nonce, etag, agentapi.CheckinResponse{Plan: plan, ServerTime: now})
}

// bodyDigest identifies a check-in body; it is part of the plan's ETag.
func bodyDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:16])
}

func planHost(snap *snapshot, id string, groups []string, inv patchgate.Inventory) patchgate.PlanHost {
	return patchgate.PlanHost{ID: id, Mode: inv.Mode, Groups: groups, Products: inv.Products, Installed: inv.Installed,
		RebootPending: inv.RebootPending, Tree: snap.tree}
}

func (s *Server) touch(id string, at time.Time) {
	s.touchMu.Lock()
	s.touches[id] = at
	s.touchMu.Unlock()
}

func (s *Server) flushTouches(ctx context.Context) {
	s.touchMu.Lock()
	batch := s.touches
	s.touches = make(map[string]time.Time, len(batch))
	s.touchMu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := s.store.TouchCheckins(ctx, batch); err != nil {
		s.log.Error("recording check-in times failed", "hosts", len(batch), "err", err)
		// Put them back unless newer times arrived meanwhile.
		s.touchMu.Lock()
		for id, t := range batch {
			if _, ok := s.touches[id]; !ok {
				s.touches[id] = t
			}
		}
		s.touchMu.Unlock()
	}
}

// lastCheckin returns the freshest known check-in time of a host, including
// one not flushed yet.
func (s *Server) lastCheckin(h *patchgate.Host) {
	s.touchMu.Lock()
	t, ok := s.touches[h.ID]
	s.touchMu.Unlock()
	if ok && t.After(h.LastCheckin) {
		h.LastCheckin = t
	}
}

func (s *Server) reportEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	hostID, err := s.authHost(ctx, bearer(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := agentapi.DecodeEvents(http.MaxBytesReader(w, r.Body, agentapi.MaxBodyBytes+1))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	deployments := req.Events[:0:0]
	refused := 0
	for i := range req.Events {
		e := &req.Events[i]
		e.HostID = hostID
		e.Actor = "host:" + hostID
		// Event IDs are the agent's and unique per host (the store keys
		// them by host and ID), so one host cannot shadow another's.
		e.Time = e.Time.UTC()
		if e.Type != patchgate.EventPlanRefused {
			deployments = append(deployments, *e)
			continue
		}
		// Not a deployment: an activity-log entry (an admin alert), once
		// per agent event ID however often the agent resends it.
		e.ID = "host-" + hostID + "-" + e.ID
		stored, err := s.appendOnce(ctx, *e)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if stored {
			refused++
		}
	}
	n := refused
	if len(deployments) > 0 {
		m, err := s.events.do(ctx, deployments)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		n += m
	}
	req.Events = deployments
	s.touch(hostID, s.now().UTC())
	if n > 0 {
		s.evaluateTests(ctx, req.Events)
	}
	writeJSON(w, http.StatusOK, agentapi.EventsResponse{Accepted: n})
}

// serveContent serves a payload to a host (or an API token holder).
func (s *Server) serveContent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	secret := bearer(r)
	if _, err := s.authHost(ctx, secret); err != nil {
		if _, err2 := s.authToken(ctx, secret); err2 != nil {
			s.writeError(w, r, err)
			return
		}
	}
	sha := r.PathValue("sha")
	if !agentapi.ValidSHA256(sha) {
		s.writeError(w, r, patchgate.Invalid("sha256", "must be 64 lowercase hex characters"))
		return
	}
	// Content of a synced update not fetched yet comes from upstream first.
	if _, err := s.fetchMissingContent(ctx, sha); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.content.Serve(w, r, sha)
}

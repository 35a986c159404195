package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/csaf"
)

// Security advisories: CSAF import, listing, and the exposure report.

func (s *Server) advisoryHandlers() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /api/v1/advisories":      s.importAdvisory,
		"GET /api/v1/advisories":       s.listAdvisories,
		"GET /api/v1/advisories/{id}":  s.getAdvisory,
		"GET /api/v1/reports/exposure": s.reportExposure,
	}
}

// readAdvisoryBody returns the CSAF document, its product map and file
// name from a raw document or an ImportAdvisoryRequest.
func readAdvisoryBody(r *http.Request) (doc []byte, m []patchgate.ProductMapEntry, file string, err error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, adminapi.MaxAdvisoryBodyBytes+1))
	if err != nil {
		return nil, nil, "", patchgate.Invalid("body", "cannot read request body: %v", err)
	}
	if len(data) > adminapi.MaxAdvisoryBodyBytes {
		return nil, nil, "", &patchgate.Error{Code: patchgate.CodeTooLarge, Field: "body", Message: fmt.Sprintf("request body exceeds %d bytes", adminapi.MaxAdvisoryBodyBytes)}
	}
	// Which of the two it is: the keys of the first JSON value. A body
	// that is not even that is a raw document for the parser to reject.
	var keys map[string]json.RawMessage
	if json.NewDecoder(bytes.NewReader(data)).Decode(&keys) != nil {
		return data, nil, "", nil
	}
	_, hasDoc := keys["document"]
	_, hasCSAF := keys["csaf"]
	_, hasB64 := keys["csaf_base64"]
	switch {
	case hasDoc:
		return data, nil, "", nil
	case !hasCSAF && !hasB64:
		return nil, nil, "", patchgate.Invalid("body", "neither a CSAF document (with document) nor a wrapper (with csaf or csaf_base64)")
	}
	var req adminapi.ImportAdvisoryRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, nil, "", patchgate.Invalid(te.Field, "expected %s, got JSON %s", te.Type, te.Value)
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, nil, "", patchgate.Invalid(strings.Trim(f, `"`), "unknown field")
		}
		return nil, nil, "", patchgate.Invalid("body", "%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, "", patchgate.Invalid("body", "unexpected data after the JSON object")
	}
	if (len(req.CSAF) > 0) == (len(req.CSAFBase64) > 0) {
		return nil, nil, "", patchgate.Invalid("csaf", "give exactly one of csaf and csaf_base64")
	}
	if err := checkReason("file", req.File); err != nil {
		return nil, nil, "", err
	}
	doc = req.CSAF
	if len(req.CSAFBase64) > 0 {
		doc = req.CSAFBase64
	}
	return doc, req.Map, req.File, nil
}

func (s *Server) importAdvisory(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	doc, m, file, err := readAdvisoryBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := csaf.Parse(doc, m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := s.exposureInput(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ids := make(map[string]bool, len(in.Updates))
	for _, u := range in.Updates {
		ids[u.ID] = true
	}
	a.LinkUpdates(func(id string) bool { return ids[id] })
	in.Advisories = []patchgate.Advisory{a}
	exposed := patchgate.ExposedHosts(patchgate.Exposure(in))
	detail, err := json.Marshal(patchgate.AdvisoryEventDetail{ID: a.ID, Title: a.Title, Severity: a.Severity, CVEs: a.CVEIDs(), ExposedHosts: exposed})
	if err != nil {
		s.writeError(w, r, patchgate.Internal(err, "encode event detail"))
		return
	}
	ev := s.event(r, patchgate.EventAdvisoryImported)
	ev.Detail = string(detail)
	a.ImportedAt, a.ImportedBy = ev.Time, actor(r)
	stored, outcome, err := s.store.PutAdvisory(ctx, a, ev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if outcome == patchgate.AdvisoryImported {
		status = http.StatusCreated
	}
	writeJSON(w, status, adminapi.ImportAdvisoryResponse{File: file, Outcome: outcome, ExposedHosts: exposed, Advisory: stored})
}

func checkCVEQuery(cve string) error {
	if cve != "" && !patchgate.ValidCVE(cve) {
		return patchgate.Invalid("cve", "%q is not a CVE id like CVE-2026-12345", cve)
	}
	return nil
}

func (s *Server) listAdvisories(w http.ResponseWriter, r *http.Request) {
	cve := r.URL.Query().Get("cve")
	if err := checkCVEQuery(cve); err != nil {
		s.writeError(w, r, err)
		return
	}
	as, err := s.store.ListAdvisories(r.Context(), patchgate.AdvisoryFilter{CVE: cve})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, as)
}

func (s *Server) getAdvisory(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a, err := s.store.GetAdvisory(ctx, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := s.exposureInput(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in.Advisories = []patchgate.Advisory{a}
	d := adminapi.AdvisoryDetail{Advisory: a, Fixes: []string{}, Exposure: patchgate.Exposure(in)}
	for _, u := range in.Updates {
		if slices.Contains(a.Updates, u.ID) || slices.Contains(u.Advisories, a.ID) {
			d.Fixes = append(d.Fixes, u.ID)
		}
	}
	sort.Strings(d.Fixes)
	if d.Exposure == nil {
		d.Exposure = []patchgate.ExposureRow{}
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) reportExposure(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	cve, id := q.Get("cve"), q.Get("advisory")
	if err := checkCVEQuery(cve); err != nil {
		s.writeError(w, r, err)
		return
	}
	if id != "" && !patchgate.ValidAdvisoryID(id) {
		s.writeError(w, r, patchgate.Invalid("advisory", "%q is not an advisory id", id))
		return
	}
	in, err := s.exposureInput(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if id != "" {
		a, err := s.store.GetAdvisory(ctx, id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		in.Advisories = []patchgate.Advisory{a}
	} else if in.Advisories, err = s.store.ListAdvisories(ctx, patchgate.AdvisoryFilter{CVE: cve}); err != nil {
		s.writeError(w, r, err)
		return
	}
	in.CVE, in.AdvisoryID = cve, id
	rows := patchgate.Exposure(in)
	if rows == nil {
		rows = []patchgate.ExposureRow{}
	}
	writeJSON(w, http.StatusOK, adminapi.ExposureReport{GeneratedAt: s.now().UTC(), Rows: rows})
}

// exposureInput gathers what patchgate.Exposure decides on, without the
// advisories: hosts, the catalog with release states, approvals, and the
// manual installs operators recorded (only manual hosts have them).
func (s *Server) exposureInput(ctx context.Context) (patchgate.ExposureInput, error) {
	var in patchgate.ExposureInput
	var err error
	if in.Hosts, err = s.store.ListHosts(ctx); err != nil {
		return in, err
	}
	if in.Updates, err = s.store.ListUpdates(ctx, patchgate.UpdateFilter{}); err != nil {
		return in, err
	}
	if in.Release, err = s.releaseStates(ctx); err != nil {
		return in, err
	}
	if in.Approvals, err = s.store.ListApprovals(ctx); err != nil {
		return in, err
	}
	snap, err := s.snapshot(ctx)
	if err != nil {
		return in, err
	}
	in.Tree = snap.tree
	for _, h := range in.Hosts {
		if h.Mode != patchgate.ModeManual {
			continue
		}
		deps, err := s.store.ListDeployments(ctx, h.ID)
		if err != nil {
			return in, err
		}
		in.Deployments = append(in.Deployments, deps...)
	}
	return in, nil
}

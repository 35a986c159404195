// Package agentapi is the wire protocol between agents (and the fleet
// simulator) and the server under /agent/v1/: the request and response
// bodies and their strict, size-limited decoders. Server and agent both use
// it so the protocol cannot fork.
//
// It imports only the domain package.
package agentapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
)

// Paths of the agent API.
const (
	PathEnroll  = "/agent/v1/enroll"
	PathCheckin = "/agent/v1/checkin"
	PathEvents  = "/agent/v1/events"
	// PathContent is followed by a lowercase hex sha256.
	PathContent = "/content/sha256/"
)

// Limits on what an agent may send.
const (
	MaxBodyBytes    = 1 << 20 // any agent request body
	MaxProducts     = 10000
	MaxInstalled    = 20000
	MaxEventsPerReq = 1000
	MaxStringLen    = 256
	MaxDetailLen    = 8192
)

// EnrollRequest is sent once, with an enrolment token.
type EnrollRequest struct {
	Token     string              `json:"token"`
	Inventory patchgate.Inventory `json:"inventory"`
	// MachineID identifies the machine the state dir was created on.
	MachineID string `json:"machine_id"`
}

// EnrollResponse carries the host's credential: the agent keeps it in its
// state dir; the server stores only its hash.
type EnrollResponse struct {
	HostID     string   `json:"host_id"`
	Credential string   `json:"credential"`
	Groups     []string `json:"groups"`
	// TrustRoots are the roots of the TUF repositories the agent trusts
	// from now on (and only those): it keeps them in its state dir.
	TrustRoots []TrustRoot `json:"trust_roots,omitempty"`
	// PlanKey is the server's plan key (EncodePlanKey): the agent pins it
	// and verifies every check-in answer with it (plansig.go).
	PlanKey string `json:"plan_key,omitempty"`
}

// TrustRoot is one TUF repository's root as delivered at enrolment.
type TrustRoot struct {
	// Repo names the repository: "local" or an upstream's name.
	Repo string `json:"repo"`
	// Root is the exact bytes of the repository's 1.root.json.
	Root json.RawMessage `json:"root"`
	// Fingerprint is the lowercase hex sha256 of Root.
	Fingerprint string `json:"fingerprint"`
}

// CheckinRequest reports the host's inventory. The agent sends the ETag of
// the last plan it got in If-None-Match; the server answers 304 when neither
// the inventory nor anything the plan depends on changed.
type CheckinRequest struct {
	Inventory patchgate.Inventory `json:"inventory"`
}

// CheckinResponse is the host's plan.
type CheckinResponse struct {
	Plan patchgate.Plan `json:"plan"`
	// ServerTime lets agents notice clock skew.
	ServerTime time.Time `json:"server_time"`
}

// EventsRequest reports deployment events; IDs make retries idempotent.
type EventsRequest struct {
	Events []patchgate.Event `json:"events"`
}

// EventsResponse says how many of the events were new.
type EventsResponse struct {
	Accepted int `json:"accepted"`
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Code    patchgate.Code `json:"code"`
	Message string         `json:"message"`
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown
// fields, trailing data and bodies over max bytes.
func decodeStrict(r io.Reader, max int64, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return patchgate.Invalid("body", "cannot read request body: %v", err)
	}
	if int64(len(data)) > max {
		return &patchgate.Error{Code: patchgate.CodeTooLarge, Field: "body", Message: fmt.Sprintf("request body exceeds %d bytes", max)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	// More is false before a stray ']' or '}': ask for the next token.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return patchgate.Invalid("body", "unexpected data after the JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return patchgate.Invalid("body", "malformed JSON at byte %d: %v", se.Offset, err)
	case errors.As(err, &te):
		return patchgate.Invalid(te.Field, "expected %s, got JSON %s", te.Type, te.Value)
	case errors.Is(err, io.EOF):
		return patchgate.Invalid("body", "empty request body")
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return patchgate.Invalid(strings.Trim(f, `"`), "unknown field")
	}
	return patchgate.Invalid("body", "%s", msg)
}

var (
	idPattern  = patchgate.MustBoundedPattern(`^[A-Za-z0-9][A-Za-z0-9._:+-]*$`, 1, 128)
	hexPattern = patchgate.MustBoundedPattern(`^[0-9a-f]+$`, 64, 64)
)

// ValidID reports whether s is an acceptable update, host or event ID.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// ValidSHA256 reports whether s is a lowercase hex sha256.
func ValidSHA256(s string) bool { return hexPattern.MatchString(s) }

func checkString(field, s string, max int) error {
	if len(s) > max {
		return patchgate.Invalid(field, "longer than %d bytes", max)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return patchgate.Invalid(field, "contains a control character")
		}
	}
	return nil
}

// ValidateInventory checks an inventory sent by an agent.
func ValidateInventory(inv *patchgate.Inventory) error {
	// In a fixed order, so that the same input always names the same field.
	for _, f := range [...]struct{ name, s string }{
		{"inventory.hostname", inv.Hostname}, {"inventory.os", inv.OS}, {"inventory.arch", inv.Arch}, {"inventory.agent", inv.Agent},
	} {
		if err := checkString(f.name, f.s, MaxStringLen); err != nil {
			return err
		}
	}
	if inv.Hostname == "" {
		return patchgate.Invalid("inventory.hostname", "is required")
	}
	if inv.Mode == "" {
		inv.Mode = patchgate.ModeAutomatic
	}
	if !inv.Mode.Valid() {
		return patchgate.Invalid("inventory.mode", "must be automatic or manual, not %q", inv.Mode)
	}
	if len(inv.Products) > MaxProducts {
		return patchgate.Invalid("inventory.products", "more than %d products", MaxProducts)
	}
	for i, p := range inv.Products {
		f := fmt.Sprintf("inventory.products[%d]", i)
		if !patchgate.ValidProductName(p.Name) {
			return patchgate.Invalid(f+".name", "invalid product name %q", p.Name)
		}
		if err := patchgate.ValidVersion(p.Version); err != nil {
			return patchgate.Invalid(f+".version", "%v", err)
		}
	}
	if len(inv.Installed) > MaxInstalled {
		return patchgate.Invalid("inventory.installed", "more than %d updates", MaxInstalled)
	}
	for i, id := range inv.Installed {
		if !ValidID(id) {
			return patchgate.Invalid(fmt.Sprintf("inventory.installed[%d]", i), "invalid update id %q", id)
		}
	}
	if len(inv.RebootPending) > MaxInstalled {
		return patchgate.Invalid("inventory.reboot_pending", "more than %d updates", MaxInstalled)
	}
	for i, id := range inv.RebootPending {
		if !ValidID(id) {
			return patchgate.Invalid(fmt.Sprintf("inventory.reboot_pending[%d]", i), "invalid update id %q", id)
		}
	}
	if inv.Interval < 0 || inv.Interval > 31*24*time.Hour {
		return patchgate.Invalid("inventory.interval", "must be between 0 and 31 days")
	}
	return nil
}

// DecodeEnroll decodes and validates an enrolment request.
func DecodeEnroll(r io.Reader) (EnrollRequest, error) {
	var req EnrollRequest
	if err := decodeStrict(r, MaxBodyBytes, &req); err != nil {
		return req, err
	}
	if req.Token == "" {
		return req, patchgate.Invalid("token", "is required")
	}
	if err := checkString("token", req.Token, MaxStringLen); err != nil {
		return req, err
	}
	if err := checkString("machine_id", req.MachineID, MaxStringLen); err != nil {
		return req, err
	}
	err := ValidateInventory(&req.Inventory) // fills defaults: call before returning req
	return req, err
}

// DecodeCheckin decodes and validates a check-in request.
func DecodeCheckin(r io.Reader) (CheckinRequest, error) {
	var req CheckinRequest
	if err := decodeStrict(r, MaxBodyBytes, &req); err != nil {
		return req, err
	}
	err := ValidateInventory(&req.Inventory) // fills defaults: call before returning req
	return req, err
}

// DecodeEvents decodes and validates an events report.
func DecodeEvents(r io.Reader) (EventsRequest, error) {
	var req EventsRequest
	if err := decodeStrict(r, MaxBodyBytes, &req); err != nil {
		return req, err
	}
	if len(req.Events) == 0 {
		return req, patchgate.Invalid("events", "is empty")
	}
	if len(req.Events) > MaxEventsPerReq {
		return req, patchgate.Invalid("events", "more than %d events", MaxEventsPerReq)
	}
	for i := range req.Events {
		e := &req.Events[i]
		f := fmt.Sprintf("events[%d]", i)
		if !ValidID(e.ID) {
			return req, patchgate.Invalid(f+".id", "invalid event id %q", e.ID)
		}
		if e.Type == patchgate.EventPlanRefused {
			// No update: the check-in answer as a whole was refused.
			switch {
			case e.UpdateID != "" || e.State != "" || e.ExitCode != 0:
				return req, patchgate.Invalid(f, "a %s event has no update_id, state or exit_code", e.Type)
			case e.Detail == "":
				return req, patchgate.Invalid(f+".detail", "is required: why the answer was refused")
			case len(e.Detail) > MaxDetailLen:
				return req, patchgate.Invalid(f+".detail", "longer than %d bytes", MaxDetailLen)
			case e.Time.IsZero():
				return req, patchgate.Invalid(f+".time", "is required")
			case e.Seq != 0 || e.Actor != "" || e.HostID != "":
				return req, patchgate.Invalid(f, "seq, actor and host_id are set by the server")
			}
			continue
		}
		if e.Type != patchgate.EventDeployment {
			return req, patchgate.Invalid(f+".type", "agents may only report %q and %q events", patchgate.EventDeployment, patchgate.EventPlanRefused)
		}
		if !ValidID(e.UpdateID) {
			return req, patchgate.Invalid(f+".update_id", "invalid update id %q", e.UpdateID)
		}
		switch e.State {
		case patchgate.StateDownloading, patchgate.StateInstalling, patchgate.StateInstalled,
			patchgate.StateFailed, patchgate.StateRebootPending, patchgate.StateNotApplicable, patchgate.StateNeeded:
		default:
			return req, patchgate.Invalid(f+".state", "invalid deployment state %q", e.State)
		}
		if e.Time.IsZero() {
			return req, patchgate.Invalid(f+".time", "is required")
		}
		if len(e.Detail) > MaxDetailLen {
			return req, patchgate.Invalid(f+".detail", "longer than %d bytes", MaxDetailLen)
		}
		if e.Seq != 0 || e.Actor != "" || e.HostID != "" {
			return req, patchgate.Invalid(f, "seq, actor and host_id are set by the server")
		}
	}
	return req, nil
}

// DecodeError reads an error body; it never fails, falling back to the
// status text.
func DecodeError(status int, r io.Reader) *patchgate.Error {
	data, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	var b ErrorBody
	if json.Unmarshal(data, &b) == nil && b.Code != "" {
		return &patchgate.Error{Code: b.Code, Message: b.Message}
	}
	return patchgate.Errorf(patchgate.CodeInternal, "server answered HTTP %d: %s", status, strings.TrimSpace(string(data)))
}

// PathTUF is the prefix of the public, read-only TUF metadata:
// GET /tuf/<repo>/<file>.
const PathTUF = "/tuf/"

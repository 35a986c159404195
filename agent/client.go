package agent

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
)

// The protocol itself (requests, size limits, error decoding, no
// redirects) is agentapi.Client, shared with the fleet simulator; this
// file only phrases its errors for the agent's log and exit message.

// serverError says what failed in a request. what names the request;
// authenticated says the request carried the host credential, so that a
// 401 means the credential itself was rejected. An answer of the server
// becomes a *patchgate.Error with its code; a transport or decoding
// failure is wrapped as it is.
func (a *Agent) serverError(err error, what string, authenticated bool) error {
	var e *patchgate.Error
	status := agentapi.HTTPStatus(err)
	if status == 0 || !errors.As(err, &e) {
		return fmt.Errorf("%s: %w", what, err)
	}
	if authenticated && (status == http.StatusUnauthorized || e.Code == patchgate.CodeUnauthorized) {
		return &patchgate.Error{
			Code: patchgate.CodeUnauthorized,
			Message: fmt.Sprintf("%s: host credential rejected (%s): re-enrol with a new enrolment token and the re-enrol option "+
				"(patchgate agent --re-enroll), which replaces the identity in %s", what, e.Message, a.cfg.StateDir),
		}
	}
	return &patchgate.Error{Code: e.Code, Message: fmt.Sprintf("%s: %s", what, e.Message)}
}

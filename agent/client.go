package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
)

// Limits on what the agent reads from the server.
const (
	maxEnrollResponse  = 64 << 10
	maxCheckinResponse = 16 << 20
	maxEventsResponse  = 64 << 10
)

// post sends body as JSON to path. credential "" sends no Authorization.
func (a *Agent) post(ctx context.Context, path, credential string, body any, header http.Header) (*http.Response, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.server+path, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	return a.do(req, credential)
}

func (a *Agent) do(req *http.Request, credential string) (*http.Response, error) {
	req.Header.Set("User-Agent", "patchgate-agent/"+a.cfg.Version)
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	return a.client.Do(req)
}

// decodeResponse decodes a 2xx JSON body of at most max bytes.
func decodeResponse(resp *http.Response, max int64, v any) error {
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return fmt.Errorf("reading the server's answer: %w", err)
	}
	if int64(len(data)) > max {
		return fmt.Errorf("the server's answer exceeds %d bytes", max)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("the server's answer is not valid: %w", err)
	}
	return nil
}

// serverError turns a non-2xx answer into a *patchgate.Error. what names
// the request; authenticated says the request carried the host credential,
// so that a 401 means the credential itself was rejected.
func (a *Agent) serverError(resp *http.Response, what string, authenticated bool) *patchgate.Error {
	e := agentapi.DecodeError(resp.StatusCode, resp.Body)
	if authenticated && (resp.StatusCode == http.StatusUnauthorized || e.Code == patchgate.CodeUnauthorized) {
		return &patchgate.Error{
			Code: patchgate.CodeUnauthorized,
			Message: fmt.Sprintf("%s: host credential rejected (%s): re-enrol with a new enrolment token and the re-enrol option "+
				"(patchgate agent --re-enroll), which replaces the identity in %s", what, e.Message, a.cfg.StateDir),
		}
	}
	return &patchgate.Error{Code: e.Code, Message: fmt.Sprintf("%s: %s", what, e.Message)}
}

// drain lets the connection be reused.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

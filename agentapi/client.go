package agentapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
)

// Limits on what a Client reads from the server.
const (
	MaxEnrollResponse  = 1 << 20 // room for the TUF roots of many upstreams
	MaxCheckinResponse = 16 << 20
	MaxEventsResponse  = 64 << 10
	// MaxContentBytes bounds one downloaded object.
	MaxContentBytes = 64 << 30
	// maxDrain is how much of an unread body is read to reuse the
	// connection.
	maxDrain = 64 << 10
)

// DefaultUserAgent is sent when Client.UserAgent is empty.
const DefaultUserAgent = "patchgate-agent"

// ErrBadContentRange says the server answered a resumed download with a
// Content-Range that does not start where the download left off; what was
// downloaded so far should be discarded.
var ErrBadContentRange = errors.New("the server resumed the download at the wrong offset")

// Client speaks the agent protocol to a server: the one implementation the
// agent and the fleet simulator share. It is safe for concurrent use by
// several hosts: the credential is an argument of each call.
//
// Errors: an answer with a non-2xx status is returned as a *patchgate.Error
// decoded from the body with DecodeError, whose cause (Err) is a
// *StatusError carrying the HTTP status (see HTTPStatus); transport
// failures are returned as they come (a *url.Error); a 2xx answer that
// cannot be decoded is an ordinary error. Response bodies are read with
// size limits, and redirects are never followed (they could only lead the
// credential elsewhere): a 3xx answer is an error.
type Client struct {
	// BaseURL of the server, e.g. https://patch.example.com:8443; a
	// trailing slash is ignored.
	BaseURL string
	// HTTP is made by the caller: TLS pinned to the server's CA, no proxy
	// or trust store it was not configured with. Its CheckRedirect is
	// ignored.
	HTTP *http.Client
	// UserAgent is sent with every request; "" = DefaultUserAgent.
	UserAgent string
	// LongPollHTTP, if set, is used for held check-ins (CheckinWait)
	// instead of HTTP: its transport must wait for response headers at
	// least as long as the hold (MaxWait + HoldGrace).
	LongPollHTTP *http.Client
}

// StatusError is the cause of the *patchgate.Error a Client returns for a
// non-2xx answer.
type StatusError struct {
	StatusCode int
}

func (e *StatusError) Error() string {
	return strconv.Itoa(e.StatusCode) + " " + http.StatusText(e.StatusCode)
}

// HTTPStatus returns the HTTP status of a refused request, or 0 when err
// did not come from a server's answer (a network error, say).
func HTTPStatus(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}

// Enroll enrols a host with an enrolment token (in req) and returns its
// identity. The answer must carry a valid host ID and credential.
func (c *Client) Enroll(ctx context.Context, req EnrollRequest) (EnrollResponse, error) {
	var er EnrollResponse
	resp, err := c.post(ctx, PathEnroll, "", "", req)
	if err != nil {
		return er, err
	}
	defer drain(resp)
	if resp.StatusCode/100 != 2 {
		return er, statusError(resp)
	}
	if err := decodeAnswer(resp, MaxEnrollResponse, &er); err != nil {
		return er, err
	}
	if !ValidID(er.HostID) || er.Credential == "" || len(er.Credential) > 1024 || strings.ContainsAny(er.Credential, " \t\r\n") {
		return er, errors.New("the server's answer has no valid host id and credential")
	}
	return er, nil
}

// Checkin sends a host's inventory with etag (the ETag of the last plan it
// carried out, "" for none) in If-None-Match. On 304 Not Modified it
// returns notModified with newETag = etag (or the one the server sent);
// otherwise the plan and its ETag ("" if the server sent none).
func (c *Client) Checkin(ctx context.Context, credential, etag string, req CheckinRequest) (cr CheckinResponse, newETag string, notModified bool, err error) {
	return c.checkin(ctx, credential, etag, 0, planCheck{}, req)
}

// CheckinVerified is CheckinWait whose answer, a plan or "not modified",
// must carry the server's signature by key over this check-in's fresh
// nonce, hostID, the ETag and the exact body (VerifyPlan); a 304 must
// also keep the ETag sent. A refusal wraps ErrPlanSignature and returns
// no plan.
func (c *Client) CheckinVerified(ctx context.Context, credential, hostID string, key ed25519.PublicKey, etag string, wait time.Duration, req CheckinRequest) (cr CheckinResponse, newETag string, notModified bool, err error) {
	if key == nil {
		return cr, "", false, fmt.Errorf("%w: no plan key to verify with", ErrPlanSignature)
	}
	wait = min(wait, MaxWait).Truncate(time.Second)
	return c.checkin(ctx, credential, etag, max(wait, 0), planCheck{key: key, hostID: hostID}, req)
}

// checkin sends a fresh nonce with every check-in, verified or not, so
// that the server signs (and the simulator measures signing) either way.
func (c *Client) checkin(ctx context.Context, credential, etag string, wait time.Duration, pc planCheck, req CheckinRequest) (cr CheckinResponse, newETag string, notModified bool, err error) {
	pc.nonce = NewNonce()
	resp, err := c.postWait(ctx, PathCheckin+waitQuery(wait), credential, etag, pc.nonce, wait, req)
	if err != nil {
		return cr, "", false, err
	}
	defer drain(resp)
	switch {
	case resp.StatusCode == http.StatusNotModified:
		got := resp.Header.Get("ETag")
		if pc.key != nil {
			if got != etag {
				return cr, "", false, fmt.Errorf("%w: a not-modified answer for ETag %q to a check-in that sent %q", ErrPlanSignature, got, etag)
			}
			if err := pc.verify(resp, true, got, nil); err != nil {
				return cr, "", false, err
			}
		}
		if got != "" {
			etag = got
		}
		return cr, etag, true, nil
	case resp.StatusCode/100 != 2:
		return cr, "", false, statusError(resp)
	}
	data, err := readAnswer(resp, MaxCheckinResponse)
	if err != nil {
		return cr, "", false, err
	}
	newETag = resp.Header.Get("ETag")
	if err := pc.verify(resp, false, newETag, data); err != nil {
		return cr, "", false, err
	}
	if err := json.Unmarshal(data, &cr); err != nil {
		return cr, "", false, fmt.Errorf("the server's answer is not valid: %w", err)
	}
	return cr, newETag, false, nil
}

// ReportEvents reports deployment events (at most MaxEventsPerReq, whose
// IDs make a retry idempotent) and returns how many the server had not
// seen before.
func (c *Client) ReportEvents(ctx context.Context, credential string, events []patchgate.Event) (accepted int, err error) {
	resp, err := c.post(ctx, PathEvents, credential, "", EventsRequest{Events: events})
	if err != nil {
		return 0, err
	}
	defer drain(resp)
	if resp.StatusCode/100 != 2 {
		return 0, statusError(resp)
	}
	var er EventsResponse
	if err := decodeAnswer(resp, MaxEventsResponse, &er); err != nil {
		return 0, err
	}
	return er.Accepted, nil
}

// Download writes the content object sha to w from byte offset on (an HTTP
// Range request when offset > 0). written counts the bytes written to w;
// total is the size of the whole object as the server announced it (-1 if
// it did not), returned as soon as the answer's headers are read, also
// with an error, so that a caller can compare it with the size it
// expects. A server that answers a Range request with the whole object is
// handled: the first offset bytes are skipped. An interrupted transfer
// returns the bytes written so far and an error; resume with offset +
// written. Nothing is verified here: w (a hash, say) and the caller do.
func (c *Client) Download(ctx context.Context, credential, sha string, offset int64, w io.Writer) (written, total int64, err error) {
	total = -1
	if !ValidSHA256(sha) {
		return 0, total, patchgate.Invalid("sha256", "must be 64 lowercase hex characters, not %q", sha)
	}
	if offset < 0 {
		return 0, total, patchgate.Invalid("offset", "must not be negative")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(PathContent+sha), nil)
	if err != nil {
		return 0, total, err
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := c.do(req, credential)
	if err != nil {
		return 0, total, err
	}
	defer resp.Body.Close()
	body := io.Reader(resp.Body)
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if ok {
			total = size
		}
		if !ok || start != offset {
			return 0, total, fmt.Errorf("%w (%q, asked for byte %d on)", ErrBadContentRange, resp.Header.Get("Content-Range"), offset)
		}
	case resp.StatusCode == http.StatusOK:
		total = resp.ContentLength
		if offset > 0 {
			// The server sent the whole object: skip what we have.
			if total >= 0 && total < offset {
				return 0, total, fmt.Errorf("the object has %d bytes, fewer than the %d already downloaded", total, offset)
			}
			if n, err := io.CopyN(io.Discard, body, offset); err != nil {
				return 0, total, fmt.Errorf("skipping the first %d bytes (got %d): %w", offset, n, err)
			}
		}
	default:
		return 0, total, statusError(resp)
	}
	if total > MaxContentBytes {
		return 0, total, &patchgate.Error{Code: patchgate.CodeTooLarge, Message: fmt.Sprintf("the object has %d bytes, more than %d", total, int64(MaxContentBytes))}
	}
	written, err = io.Copy(w, io.LimitReader(body, MaxContentBytes-offset+1))
	if err == nil && offset+written > MaxContentBytes {
		err = &patchgate.Error{Code: patchgate.CodeTooLarge, Message: fmt.Sprintf("the object exceeds %d bytes", int64(MaxContentBytes))}
	}
	return written, total, err
}

// parseContentRange parses "bytes START-END/TOTAL"; total is -1 for "*".
func parseContentRange(h string) (start, total int64, ok bool) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, size, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	first, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	total = -1
	if size != "*" {
		if total, err = strconv.ParseInt(size, 10, 64); err != nil || total < 0 {
			return 0, 0, false
		}
	}
	return start, total, true
}

func (c *Client) url(path string) string {
	return strings.TrimRight(c.BaseURL, "/") + path
}

// post sends body as JSON. credential "" sends no Authorization, etag ""
// no If-None-Match.
func (c *Client) post(ctx context.Context, path, credential, etag string, body any) (*http.Response, error) {
	return c.postWait(ctx, path, credential, etag, "", 0, body)
}

// postWait is post for a request the server may hold up to wait, with a
// nonce (HeaderNonce) unless it is "".
func (c *Client) postWait(ctx context.Context, path, credential, etag, nonce string, wait time.Duration, body any) (*http.Response, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(path), bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if nonce != "" {
		req.Header.Set(HeaderNonce, nonce)
	}
	return c.doWait(req, credential, wait)
}

func (c *Client) do(req *http.Request, credential string) (*http.Response, error) {
	return c.doWait(req, credential, 0)
}

func (c *Client) doWait(req *http.Request, credential string, wait time.Duration) (*http.Response, error) {
	ua := c.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	req.Header.Set("User-Agent", ua)
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	hc := c.httpFor(wait)
	// The agent API has no redirects; one would only lead the credential
	// elsewhere. A copy of the caller's client, so it stays untouched.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return hc.Do(req)
}

// statusError decodes a non-2xx answer.
func statusError(resp *http.Response) *patchgate.Error {
	e := DecodeError(resp.StatusCode, resp.Body)
	e.Err = &StatusError{StatusCode: resp.StatusCode}
	return e
}

// readAnswer reads a 2xx body of at most max bytes.
func readAnswer(resp *http.Response, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading the server's answer: %w", err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("the server's answer exceeds %d bytes", max)
	}
	return data, nil
}

// decodeAnswer decodes a 2xx JSON body of at most max bytes.
func decodeAnswer(resp *http.Response, max int64, v any) error {
	data, err := readAnswer(resp, max)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("the server's answer is not valid: %w", err)
	}
	return nil
}

// drain lets the connection be reused.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
}

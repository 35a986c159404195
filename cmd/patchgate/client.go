//go:build !agentonly

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/pki"
)

// Limits of the admin client.
const (
	// apiRequestTimeout bounds one JSON request when the caller's context
	// has no deadline. Content uploads are bounded only by the context.
	apiRequestTimeout = 2 * time.Minute
	// maxResponseBytes bounds a JSON response (a long event or host list).
	maxResponseBytes = 64 << 20
	// progressThreshold: uploads larger than this show a progress bar on a
	// terminal.
	progressThreshold = 1 << 20
)

// errNoToken is returned before any request when no API token is set.
var errNoToken = &patchgate.Error{Code: patchgate.CodeUnauthorized, Message: "no API token: pass --token or set PATCHGATE_TOKEN"}

// apiClient talks to the admin API under /api/v1/.
type apiClient struct {
	base  string // server URL without a trailing slash
	token string
	http  *http.Client
	// progress receives upload progress bars; nil shows none.
	progress io.Writer
}

// newAPIClient checks the server flags and builds a client: an https://
// server must be pinned with --ca-fingerprint; an http:// server is talked
// to in plain text, as asked.
func newAPIClient(g *globalOptions) (*apiClient, error) {
	raw := strings.TrimSpace(g.Server)
	if raw == "" {
		return nil, patchgate.Invalid("--server", "is required (or set PATCHGATE_SERVER)")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, patchgate.Invalid("--server", "%q is not an https:// or http:// URL", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, patchgate.Invalid("--server", "%q: give only scheme, host, port and optional path", u.Redacted())
	}
	c := &apiClient{base: strings.TrimRight(u.String(), "/"), token: strings.TrimSpace(g.Token)}
	if u.Scheme == "https" {
		if strings.TrimSpace(g.CAFingerprint) == "" {
			return nil, patchgate.Invalid("--ca-fingerprint", "is required for an https:// server (or set PATCHGATE_CA_FINGERPRINT): it pins the server's CA; `patchgate serve` prints it at start")
		}
		hc, err := pki.NewHTTPClient(g.CAFingerprint, 0)
		if err != nil {
			return nil, patchgate.Invalid("--ca-fingerprint", "%v", strings.TrimPrefix(err.Error(), "pki: "))
		}
		c.http = hc
	} else {
		c.http = pki.NewInsecureHTTPClient(0)
	}
	if stderrIsTerminal() {
		c.progress = os.Stderr
	}
	return c, nil
}

func stderrIsTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// do sends a JSON request to path (which starts with /api/v1/, its
// segments already escaped) and decodes a JSON answer into out, if out is
// not nil (a *json.RawMessage keeps the body as it is). An error answer
// comes back as a *patchgate.Error carrying the server's code.
func (c *apiClient) do(ctx context.Context, method, path string, query url.Values, body any, out any) error {
	if c.token == "" {
		return errNoToken
	}
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding the request: %w", err)
		}
		if len(data) > adminapi.MaxBodyBytes {
			return &patchgate.Error{Code: patchgate.CodeTooLarge, Field: "body", Message: fmt.Sprintf("request of %d bytes exceeds the server's limit of %d", len(data), adminapi.MaxBodyBytes)}
		}
		rd = bytes.NewReader(data)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, apiRequestTimeout)
		defer cancel()
	}
	req, err := c.newRequest(ctx, method, path, query, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, out)
}

// putContent uploads a payload's content to PUT /api/v1/content/{sha},
// streaming it with its Content-Length. The server refuses content whose
// hash or size differ.
func (c *apiClient) putContent(ctx context.Context, sha string, r io.Reader, size int64) error {
	return c.putContentLabeled(ctx, shortSHA(sha), sha, r, size)
}

// putContentLabeled is putContent with a name for the progress bar.
func (c *apiClient) putContentLabeled(ctx context.Context, label, sha string, r io.Reader, size int64) error {
	if c.token == "" {
		return errNoToken
	}
	if !agentapi.ValidSHA256(sha) {
		return patchgate.Invalid("sha256", "%q is not 64 lowercase hex characters", sha)
	}
	if size < 0 {
		return patchgate.Invalid("size", "must not be negative")
	}
	var bar *progressBar
	body := io.LimitReader(r, size)
	if c.progress != nil && size > progressThreshold {
		bar = newProgressBar(c.progress, label, size)
		body = io.TeeReader(body, bar)
	}
	// NoBody for empty content: http.Request sends Content-Length: 0 and no
	// chunked encoding.
	var rd io.Reader = http.NoBody
	if size > 0 {
		rd = body
	}
	req, err := c.newRequest(ctx, http.MethodPut, "/api/v1/content/"+sha, nil, rd)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	var resp adminapi.PutContentResponse
	err = c.send(req, &resp)
	if bar != nil {
		bar.finish(err == nil)
	}
	if err != nil {
		return err
	}
	if resp.SHA256 != "" && (resp.SHA256 != sha || resp.Size != size) {
		return patchgate.Errorf(patchgate.CodeInternal, "server stored %s (%d bytes), expected %s (%d bytes)", resp.SHA256, resp.Size, sha, size)
	}
	return nil
}

func (c *apiClient) newRequest(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Request, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "patchgate-cli/"+version)
	return req, nil
}

// send runs req and decodes the answer.
func (c *apiClient) send(req *http.Request, out any) error {
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, ctxErr)
		}
		return fmt.Errorf("cannot reach the server at %s: %w", c.base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeErrorResponse(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("reading the answer to %s %s: %w", req.Method, req.URL.Path, err)
	}
	if len(data) > maxResponseBytes {
		return patchgate.Errorf(patchgate.CodeTooLarge, "the answer to %s %s exceeds %d bytes", req.Method, req.URL.Path, maxResponseBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return patchgate.Errorf(patchgate.CodeInternal, "unexpected answer to %s %s: %v", req.Method, req.URL.Path, err)
	}
	return nil
}

// decodeErrorResponse turns an error answer into a *patchgate.Error. A body
// without a code (a proxy's HTML page, say) gets the code that matches the
// HTTP status.
func decodeErrorResponse(resp *http.Response) *patchgate.Error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	pe := agentapi.DecodeError(resp.StatusCode, bytes.NewReader(data))
	var b agentapi.ErrorBody
	if json.Unmarshal(data, &b) != nil || b.Code == "" {
		pe.Code = codeForStatus(resp.StatusCode)
		if len(bytes.TrimSpace(data)) == 0 || !utf8Printable(data) {
			pe.Message = fmt.Sprintf("server answered HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		} else {
			pe.Message = truncateText(cleanCell(pe.Message), 300)
		}
	}
	return pe
}

func codeForStatus(status int) patchgate.Code {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return patchgate.CodeInvalid
	case http.StatusUnauthorized:
		return patchgate.CodeUnauthorized
	case http.StatusForbidden:
		return patchgate.CodeForbidden
	case http.StatusNotFound:
		return patchgate.CodeNotFound
	case http.StatusConflict:
		return patchgate.CodeConflict
	case http.StatusRequestEntityTooLarge:
		return patchgate.CodeTooLarge
	}
	return patchgate.CodeInternal
}

func utf8Printable(data []byte) bool {
	return !bytes.ContainsAny(data, "\x00\x1b")
}

// unwrapURLError drops the "Put \"https://...\":" prefix of a *url.Error:
// the caller already names the server.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// pathEscape escapes one path segment (an update, host or group name).
func pathEscape(s string) string { return url.PathEscape(s) }

// decodeList decodes a list answer, a JSON array; what names the list in
// an error.
func decodeList(raw json.RawMessage, what string, out any) error {
	data := bytes.TrimSpace(raw)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return nil
	}
	if data[0] != '[' {
		return patchgate.Errorf(patchgate.CodeInternal, "unexpected answer from the server: not a list of %s", what)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return unexpectedAnswer(err)
	}
	return nil
}

// progressBar draws "name [=====>    ]  45%  12.0 MiB / 27.0 MiB" in place
// on a terminal, redrawing at most ten times a second.
type progressBar struct {
	w     io.Writer
	label string
	total int64
	done  int64
	shown int64 // done at the last draw; -1 before the first
	last  time.Time
	now   func() time.Time
}

func newProgressBar(w io.Writer, label string, total int64) *progressBar {
	return &progressBar{w: w, label: truncateText(label, 30), total: total, shown: -1, now: time.Now}
}

func (p *progressBar) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if t := p.now(); t.Sub(p.last) >= 100*time.Millisecond || p.done >= p.total {
		p.last = t
		p.draw()
	}
	return len(b), nil
}

func (p *progressBar) draw() {
	p.shown = p.done
	p.drawAmount(byteSize(p.done) + " / " + byteSize(p.total))
}

// drawAmount draws the bar, the percentage and amount (the units done of
// the total, as the caller words them).
func (p *progressBar) drawAmount(amount string) {
	const width = 30
	frac := 1.0
	if p.total > 0 {
		frac = float64(p.done) / float64(p.total)
	}
	frac = min(max(frac, 0), 1)
	filled := int(frac * width)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	fmt.Fprintf(p.w, "\r%s [%s] %3d%%  %s\x1b[K", p.label, bar, int(frac*100), amount)
}

// finish leaves the bar complete (or as far as it got) and ends the line.
func (p *progressBar) finish(ok bool) {
	if p.shown != p.done {
		p.draw()
	}
	if ok {
		fmt.Fprintln(p.w)
	} else {
		fmt.Fprintln(p.w, " failed")
	}
}

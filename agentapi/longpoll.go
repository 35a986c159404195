package agentapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/patchgate/patchgate"
)

// Long-poll check-ins: a check-in with the query parameter QueryWait asks
// the server to hold the request while the host's plan is the one whose
// ETag the agent sends in If-None-Match. The server answers 200 with the
// plan as soon as it may differ (an approval, a window opening or closing,
// a catalog change), or 304 when the wait is over. The inventory body is
// the same as for an ordinary check-in, so the server's "not modified"
// fast path still applies.
const (
	// QueryWait is the query parameter: whole seconds, 1..MaxWait.
	QueryWait = "wait"
	// MaxWait is the longest hold a server grants.
	MaxWait = 5 * time.Minute
	// HoldGrace is added to a held request's client-side time limits: the
	// answer comes at the end of the wait, plus the time to make it.
	HoldGrace = 30 * time.Second
)

// ParseWait parses the value of QueryWait: whole seconds between 1 and
// MaxWait. "" is no wait.
func ParseWait(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if len(s) > 4 {
		return 0, patchgate.Invalid(QueryWait, "must be whole seconds between 1 and %d", int(MaxWait/time.Second))
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || time.Duration(n)*time.Second > MaxWait || strconv.Itoa(n) != s {
		return 0, patchgate.Invalid(QueryWait, "must be whole seconds between 1 and %d, not %q", int(MaxWait/time.Second), s)
	}
	return time.Duration(n) * time.Second, nil
}

// CheckinWait is Checkin as a long poll: the server holds the request up
// to wait (rounded down to whole seconds, at most MaxWait) while the plan
// is still etag. wait < 1s is an ordinary check-in. Give the Client an
// HTTP client whose transport waits at least wait+HoldGrace for response
// headers (LongPollHTTP); the overall Timeout of the client is extended
// by the wait here.
func (c *Client) CheckinWait(ctx context.Context, credential, etag string, wait time.Duration, req CheckinRequest) (cr CheckinResponse, newETag string, notModified bool, err error) {
	wait = min(wait, MaxWait).Truncate(time.Second)
	if wait <= 0 {
		return c.Checkin(ctx, credential, etag, req)
	}
	return c.checkin(ctx, credential, etag, wait, planCheck{}, req)
}

// httpFor returns the HTTP client for a request held up to wait.
func (c *Client) httpFor(wait time.Duration) http.Client {
	var hc http.Client
	switch {
	case wait > 0 && c.LongPollHTTP != nil:
		hc = *c.LongPollHTTP
	case c.HTTP != nil:
		hc = *c.HTTP
	}
	if wait > 0 && hc.Timeout > 0 {
		hc.Timeout += wait + HoldGrace
	}
	return hc
}

// waitQuery is the query string of a check-in held up to wait.
func waitQuery(wait time.Duration) string {
	if wait <= 0 {
		return ""
	}
	return "?" + QueryWait + "=" + strconv.Itoa(int(wait/time.Second))
}

package adminapi

import "github.com/patchgate/patchgate"

// SubscribeRequest is POST /api/v1/subscriptions.
type SubscribeRequest struct {
	Channel     patchgate.Channel          `json:"channel,omitempty"` // default email
	Address     string                     `json:"address"`           // mail address or webhook URL
	Events      []string                   `json:"events,omitempty"`
	Products    []string                   `json:"products,omitempty"`
	MinSeverity patchgate.Severity         `json:"min_severity,omitempty"`
	Kinds       []patchgate.Kind           `json:"kinds,omitempty"`
	Mode        patchgate.SubscriptionMode `json:"mode,omitempty"` // default immediate
	Alerts      bool                       `json:"alerts,omitempty"`
	Reports     bool                       `json:"reports,omitempty"`   // the periodic status report
	TimeZone    string                     `json:"time_zone,omitempty"` // of digests; default the server's
}

// SubscribeResponse is the stored subscription; for a webhook, with the
// key its payloads are signed with (shown at creation only).
type SubscribeResponse struct {
	patchgate.Subscription
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

// RetryRequest is POST /api/v1/notify/retry: the dead letters to requeue,
// or all of them.
type RetryRequest struct {
	IDs []string `json:"ids,omitempty"`
	All bool     `json:"all,omitempty"`
}

// RetryResponse says how many dead letters went back to the queue.
type RetryResponse struct {
	Requeued int `json:"requeued"`
}

// NotifyTestRequest is POST /api/v1/notify/test.
type NotifyTestRequest struct {
	Address string `json:"address"`
}

// NotifyTestResponse reports the SMTP outcome of a test mail.
type NotifyTestResponse struct {
	Result string `json:"result"`
}

// FlushDigestsResponse is POST /api/v1/notify/digests/send: how many
// pending daily or weekly digests were made due now.
type FlushDigestsResponse struct {
	Flushed int `json:"flushed"`
}

// Public routes outside /api/v1/.
const (
	PathFeed        = "/feed.atom"
	PathUnsubscribe = "/unsubscribe"
)

func init() {
	for k, d := range map[string]doc{
		"GET /api/v1/subscriptions":         {summary: "List mail subscriptions", response: []patchgate.Subscription{}},
		"POST /api/v1/subscriptions":        {summary: "Subscribe a mail address to new fixes (filtered) and optionally admin alerts", request: SubscribeRequest{}, response: SubscribeResponse{}},
		"DELETE /api/v1/subscriptions/{id}": {summary: "Remove a subscription and its pending mail"},
		"GET /api/v1/notify/deliveries":     {summary: "List outbox deliveries by status (default dead letters), newest first", query: []string{"status", "limit"}, response: []patchgate.Delivery{}},
		"POST /api/v1/notify/retry":         {summary: "Requeue dead letters (by ID or all)", request: RetryRequest{}, response: RetryResponse{}},
		"POST /api/v1/notify/test":          {summary: "Send a test mail now and report the SMTP outcome", request: NotifyTestRequest{}, response: NotifyTestResponse{}},
		"POST /api/v1/notify/digests/send":  {summary: "Send every pending daily and weekly digest now instead of at its digest hour", response: FlushDigestsResponse{}},
	} {
		docs[k] = d
	}
}

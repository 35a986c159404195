package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/patchgate/patchgate"
)

// Webhook headers.
const (
	HeaderSignature = "X-Patchgate-Signature" // "sha256=" + hex HMAC-SHA256 of the body
	HeaderDelivery  = "X-Patchgate-Delivery"  // the delivery ID: the same on every retry
)

// WebhookPayload is the JSON body of a webhook POST.
type WebhookPayload struct {
	DeliveryID string             `json:"delivery_id"`
	Server     string             `json:"server"`
	Events     []patchgate.Event  `json:"events"`
	Updates    []patchgate.Update `json:"updates"` // the updates the events name, as the catalog holds them
}

// Sign returns the signature header value of body under key.
func Sign(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// postWebhook sends a webhook delivery. 2xx is success; 408, 429 and 5xx
// are worth retrying; any other answer (other 4xx, a redirect) is
// permanent.
func (d *Dispatcher) postWebhook(ctx context.Context, dl patchgate.Delivery) error {
	p := WebhookPayload{DeliveryID: dl.ID, Server: d.cfg.ServerName, Events: dl.Events, Updates: []patchgate.Update{}}
	seen := map[string]bool{}
	for _, ev := range dl.Events {
		if ev.UpdateID == "" || seen[ev.UpdateID] {
			continue
		}
		seen[ev.UpdateID] = true
		u, err := d.store.GetUpdate(ctx, ev.UpdateID)
		if patchgate.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		p.Updates = append(p.Updates, u)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return permanentError{err}
	}
	req, err := http.NewRequestWithContext(ctx, "POST", dl.Address, bytes.NewReader(body))
	if err != nil {
		return permanentError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "patchgate-webhook")
	req.Header.Set(HeaderDelivery, dl.ID)
	req.Header.Set(HeaderSignature, Sign(patchgate.WebhookSecret(d.cfg.Secret, dl.SubscriptionID), body))
	resp, err := d.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return fmt.Errorf("webhook answered %s", resp.Status)
	default:
		return permanentError{fmt.Errorf("webhook answered %s", resp.Status)}
	}
}

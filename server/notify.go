package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// NotifyConfig is what the notification routes need; cmd/ fills it.
type NotifyConfig struct {
	// Secret verifies the signed tokens of unsubscribe links.
	Secret []byte
	// ServerName names this server on the feed and the unsubscribe page.
	ServerName string
	// SendTest sends a test mail and describes the SMTP outcome; nil
	// means mail is not configured.
	SendTest func(ctx context.Context, address string) (string, error)
}

// notifyHandlers are the admin routes of subscriptions and the outbox.
func (s *Server) notifyHandlers() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /api/v1/subscriptions":         s.listSubscriptions,
		"POST /api/v1/subscriptions":        s.subscribe,
		"DELETE /api/v1/subscriptions/{id}": s.unsubscribeByID,
		"GET /api/v1/notify/deliveries":     s.listDeliveries,
		"POST /api/v1/notify/retry":         s.retryDeliveries,
		"POST /api/v1/notify/test":          s.notifyTest,
		"POST /api/v1/notify/digests/send":  s.flushDigests,
	}
}

// registerPublicNotify adds the routes people reach without a token: the
// Atom feed of posted fixes (public, as vendors' advisory feeds are) and
// the one-click unsubscribe link of every mail (the signed token is the
// credential).
func (s *Server) registerPublicNotify(mux *http.ServeMux) {
	mux.HandleFunc("GET "+adminapi.PathFeed, s.feed)
	mux.HandleFunc("GET "+adminapi.PathUnsubscribe, s.unsubscribePage)
	mux.HandleFunc("POST "+adminapi.PathUnsubscribe, s.unsubscribePost)
}

func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	ss, err := s.store.ListSubscriptions(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ss)
}

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) {
	var req adminapi.SubscribeRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Mode == "" {
		req.Mode = patchgate.ModeImmediate
	}
	if req.Channel == "" {
		req.Channel = patchgate.ChannelEmail
	}
	sub := patchgate.Subscription{
		ID: "sub-" + randomHex(6), Channel: req.Channel, Address: req.Address, Events: req.Events, Products: req.Products, MinSeverity: req.MinSeverity,
		Kinds: req.Kinds, Mode: req.Mode, Alerts: req.Alerts, Reports: req.Reports, TimeZone: req.TimeZone, CreatedAt: s.now().UTC(), CreatedBy: actor(r),
	}
	if err := sub.Validate(); err != nil {
		s.writeError(w, r, err)
		return
	}
	if sub.Channel == patchgate.ChannelWebhook && len(s.notify.Secret) == 0 {
		s.writeError(w, r, patchgate.Errorf(patchgate.CodeConflict, "this server has no notification secret to sign webhooks with"))
		return
	}
	ev := s.event(r, patchgate.EventSubscriptionAdded)
	ev.Detail = fmt.Sprintf("subscription %s for %s (%s)", sub.ID, sub.Address, sub.Mode)
	if err := s.store.CreateSubscription(r.Context(), sub, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := adminapi.SubscribeResponse{Subscription: sub}
	if sub.Channel == patchgate.ChannelWebhook {
		resp.WebhookSecret = patchgate.WebhookSecret(s.notify.Secret, sub.ID)
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) unsubscribeByID(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ev := s.event(r, patchgate.EventSubscriptionRemoved)
	ev.Detail = "subscription " + id
	if err := s.store.DeleteSubscription(r.Context(), id, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := patchgate.DeliveryStatus(q.Get("status"))
	if status == "" {
		status = patchgate.DeliveryDead
	}
	if status != patchgate.DeliveryDead && status != patchgate.DeliveryPending && status != patchgate.DeliverySent {
		s.writeError(w, r, patchgate.Invalid("status", "must be pending, sent or dead"))
		return
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			s.writeError(w, r, patchgate.Invalid("limit", "must be between 1 and 10000"))
			return
		}
		limit = n
	}
	ds, err := s.store.ListDeliveries(r.Context(), status, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ds)
}

func (s *Server) retryDeliveries(w http.ResponseWriter, r *http.Request) {
	var req adminapi.RetryRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.All == (len(req.IDs) > 0) {
		s.writeError(w, r, patchgate.Invalid("ids", "name dead letters or set all, not both or neither"))
		return
	}
	if len(req.IDs) > 1000 {
		s.writeError(w, r, patchgate.Invalid("ids", "at most 1000"))
		return
	}
	ev := s.event(r, patchgate.EventDeliveryRetried)
	n, err := s.store.RetryDeliveries(r.Context(), req.IDs, req.All, s.now().UTC(), ev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminapi.RetryResponse{Requeued: n})
}

func (s *Server) flushDigests(w http.ResponseWriter, r *http.Request) {
	n, err := s.store.FlushDigests(r.Context(), s.now().UTC(), s.event(r, patchgate.EventDigestsFlushed))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminapi.FlushDigestsResponse{Flushed: n})
}

func (s *Server) notifyTest(w http.ResponseWriter, r *http.Request) {
	var req adminapi.NotifyTestRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := patchgate.ValidAddress("address", req.Address); err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.notify.SendTest == nil {
		s.writeError(w, r, patchgate.Errorf(patchgate.CodeConflict, "mail is not configured on this server: start it with --smtp-host and --mail-from"))
		return
	}
	res, err := s.notify.SendTest(r.Context(), req.Address)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminapi.NotifyTestResponse{Result: res})
}

var unsubscribeTmpl = template.Must(template.New("unsub").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Unsubscribe — {{.Server}}</title></head>
<body style="font-family: sans-serif">
<h1>patchgate server {{.Server}}</h1>
<p>{{.Message}}</p>
{{if .Token}}<form method="post" action="/unsubscribe?token={{.Token}}">
<button type="submit">Unsubscribe {{.Address}}</button>
</form>{{end}}
</body></html>
`))

type unsubscribeView struct{ Server, Message, Token, Address string }

func (s *Server) writeUnsubscribePage(w http.ResponseWriter, status int, v unsubscribeView) {
	v.Server = s.notify.ServerName
	var buf bytes.Buffer
	if err := unsubscribeTmpl.Execute(&buf, v); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// unsubscribePage shows what the link would do; GET changes nothing, as
// mail scanners follow links.
func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	id, ok := patchgate.VerifyUnsubscribeToken(s.notify.Secret, tok)
	if !ok {
		s.writeUnsubscribePage(w, http.StatusBadRequest, unsubscribeView{Message: "This unsubscribe link is not valid."})
		return
	}
	sub, err := s.store.GetSubscription(r.Context(), id)
	if patchgate.IsNotFound(err) {
		s.writeUnsubscribePage(w, http.StatusOK, unsubscribeView{Message: "You are already unsubscribed."})
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeUnsubscribePage(w, http.StatusOK, unsubscribeView{
		Message: "Stop the mails of this subscription to " + sub.Address + "?", Token: tok, Address: sub.Address,
	})
}

// unsubscribePost unsubscribes: the form of the page, or a mail client's
// RFC 8058 one-click POST.
func (s *Server) unsubscribePost(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	id, ok := patchgate.VerifyUnsubscribeToken(s.notify.Secret, tok)
	if !ok {
		s.writeUnsubscribePage(w, http.StatusBadRequest, unsubscribeView{Message: "This unsubscribe link is not valid."})
		return
	}
	ev := patchgate.Event{ID: "adm-" + randomHex(10), Time: s.now().UTC(), Type: patchgate.EventSubscriptionRemoved,
		Actor: "unsubscribe-link", Detail: "subscription " + id}
	err := s.store.DeleteSubscription(r.Context(), id, ev)
	if err != nil && !patchgate.IsNotFound(err) {
		s.writeError(w, r, err)
		return
	}
	s.writeUnsubscribePage(w, http.StatusOK, unsubscribeView{Message: "You are unsubscribed. No more mails of this subscription will be sent."})
}

// Atom 1.0 (RFC 4287) documents.
type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string      `xml:"title"`
	ID      string      `xml:"id"`
	Updated string      `xml:"updated"`
	Link    []atomLink  `xml:"link"`
	Author  atomAuthor  `xml:"author"`
	Entries []atomEntry `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomAuthor struct {
	Name string `xml:"name"`
}

type atomCategory struct {
	Term  string `xml:"term,attr"`
	Label string `xml:"label,attr,omitempty"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

type atomEntry struct {
	Title      string         `xml:"title"`
	ID         string         `xml:"id"`
	Updated    string         `xml:"updated"`
	Published  string         `xml:"published,omitempty"`
	Categories []atomCategory `xml:"category"`
	Summary    atomText       `xml:"summary"`
}

// maxFeedEntries bounds the feed.
const maxFeedEntries = 100

// feed serves the posted updates, newest first, as Atom; query parameters
// product, kind and min_severity filter it.
func (s *Server) feed(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := patchgate.UpdateFilter{Kind: patchgate.Kind(q.Get("kind")), Product: q.Get("product")}
	if f.Kind != "" && !f.Kind.Valid() {
		s.writeError(w, r, patchgate.Invalid("kind", "must be one of %v", patchgate.Kinds))
		return
	}
	minSev := patchgate.Severity(q.Get("min_severity"))
	if minSev != "" && !minSev.Valid() {
		s.writeError(w, r, patchgate.Invalid("min_severity", "must be one of %v", patchgate.Severities))
		return
	}
	us, err := s.store.ListUpdates(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	states, err := s.releaseStates(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	us = slices.DeleteFunc(us, func(u patchgate.Update) bool {
		return !states[u.ID].Status.Released() || (minSev != "" && u.Severity.Rank() < minSev.Rank())
	})
	slices.SortStableFunc(us, func(a, b patchgate.Update) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(us) > maxFeedEntries {
		us = us[:maxFeedEntries]
	}
	name := s.notify.ServerName
	if name == "" {
		name = "patchgate"
	}
	updated := time.Unix(0, 0).UTC()
	if len(us) > 0 {
		updated = us[0].CreatedAt.UTC()
	}
	doc := atomFeed{
		Title:   "patchgate " + name + ": posted fixes",
		ID:      uuidURN("feed:" + name),
		Updated: updated.Format(time.RFC3339),
		Link:    []atomLink{{Rel: "self", Href: selfURL(r)}},
		Author:  atomAuthor{Name: name},
	}
	for _, u := range us {
		var products []string
		cats := []atomCategory{{Term: "severity:" + string(u.Severity), Label: string(u.Severity)}, {Term: "kind:" + string(u.Kind), Label: string(u.Kind)}}
		for _, p := range u.Products {
			products = append(products, p.Name)
			cats = append(cats, atomCategory{Term: "product:" + p.Name, Label: p.Name})
		}
		summary := fmt.Sprintf("%s %s for %s, revision %d.", u.Severity, u.Kind, strings.Join(products, ", "), u.Revision)
		if len(u.CVEs) > 0 {
			summary += " " + strings.Join(u.CVEs, ", ") + "."
		}
		if u.Description != "" {
			summary += " " + u.Description
		}
		e := atomEntry{
			Title:      fmt.Sprintf("[%s] %s: %s", u.Severity, u.ID, u.Title),
			ID:         uuidURN(fmt.Sprintf("update:%s:%d", u.ID, u.Revision)),
			Updated:    u.CreatedAt.UTC().Format(time.RFC3339),
			Categories: cats,
			Summary:    atomText{Type: "text", Body: summary},
		}
		if !u.ReleaseDate.IsZero() {
			e.Published = u.ReleaseDate.UTC().Format(time.RFC3339)
		}
		doc.Entries = append(doc.Entries, e)
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		s.writeError(w, r, patchgate.Internal(err, "encode feed"))
		return
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Write(buf.Bytes())
}

// uuidURN is a stable urn:uuid (version 5 style, from SHA-256) for s.
func uuidURN(s string) string {
	h := sha256.Sum256([]byte("patchgate:" + s))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func selfURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

// Package upstream syncs a downstream server from its upstream servers:
// it pulls each upstream's change feed from the stored cursor, stores each
// page with the cursor in one transaction (so a sync killed at any point
// resumes where its last committed page ended, losing and duplicating
// nothing), and fetches synced content, verified against its sha256 and
// size, with Range resume and bounded parallelism.
//
// It imports the domain, adminapi (the feed's wire types), agentapi (the
// content path), content and pki; never a concrete store, server or cmd/.
package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/pki"
)

// maxPageBytes bounds one feed page's body.
const maxPageBytes = 64 << 20

// client talks to one upstream.
type client struct {
	up   patchgate.Upstream
	http *http.Client
}

// newClient pins the upstream's CA like the agent does; an http://
// upstream (experiments with --insecure-http) is talked to in clear.
func newClient(up patchgate.Upstream) (*client, error) {
	u, err := url.Parse(up.URL)
	if err != nil {
		return nil, patchgate.Invalid("url", "%v", err)
	}
	c := &client{up: up}
	if u.Scheme == "https" {
		c.http, err = pki.NewHTTPClient(up.CAFingerprint, 0)
		if err != nil {
			return nil, patchgate.Invalid("ca_fingerprint", "%v", err)
		}
	} else {
		c.http = pki.NewInsecureHTTPClient(0)
	}
	return c, nil
}

// errorFrom turns an error answer into a patchgate error naming the
// upstream.
func (c *client) errorFrom(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb agentapi.ErrorBody
	msg := strings.TrimSpace(string(data))
	code := patchgate.CodeInternal
	if json.Unmarshal(data, &eb) == nil && eb.Message != "" {
		msg, code = eb.Message, eb.Code
	}
	if len(msg) > 300 {
		msg = msg[:300]
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		code = patchgate.CodeUnauthorized
	case http.StatusConflict:
		code = patchgate.CodeConflict
	case http.StatusNotFound:
		code = patchgate.CodeNotFound
	}
	return &patchgate.Error{Code: code, Message: fmt.Sprintf("upstream %s answered %d: %s", c.up.Name, resp.StatusCode, msg)}
}

// feed reads one page of the change feed after cursor.
func (c *client) feed(ctx context.Context, cursor int64, limit int, chain []string) (adminapi.FeedPage, int64, error) {
	var page adminapi.FeedPage
	q := url.Values{"cursor": {strconv.FormatInt(cursor, 10)}, "limit": {strconv.Itoa(limit)}}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.up.URL+"/api/v1/feed/changes?"+q.Encode(), nil)
	if err != nil {
		return page, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.up.Token)
	req.Header.Set(patchgate.HeaderServerChain, strings.Join(chain, ","))
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return page, 0, fmt.Errorf("upstream %s: %w", c.up.Name, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return page, 0, c.errorFrom(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBytes+1))
	if err != nil {
		return page, 0, fmt.Errorf("upstream %s: reading the feed: %w", c.up.Name, err)
	}
	if len(data) > maxPageBytes {
		return page, 0, fmt.Errorf("upstream %s: feed page exceeds %d bytes", c.up.Name, maxPageBytes)
	}
	if err := json.Unmarshal(data, &page); err != nil {
		return page, 0, fmt.Errorf("upstream %s: malformed feed page: %v", c.up.Name, err)
	}
	if err := checkPage(page, cursor, limit); err != nil {
		return page, 0, fmt.Errorf("upstream %s: %w", c.up.Name, err)
	}
	return page, int64(len(data)), nil
}

// policy reads the upstream's replica policy.
func (c *client) policy(ctx context.Context, chain []string) (patchgate.ReplicaPolicy, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.up.URL+"/api/v1/feed/policy", nil)
	if err != nil {
		return patchgate.ReplicaPolicy{}, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.up.Token)
	req.Header.Set(patchgate.HeaderServerChain, strings.Join(chain, ","))
	resp, err := c.http.Do(req)
	if err != nil {
		return patchgate.ReplicaPolicy{}, 0, fmt.Errorf("upstream %s: %w", c.up.Name, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return patchgate.ReplicaPolicy{}, 0, c.errorFrom(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBytes+1))
	if err != nil {
		return patchgate.ReplicaPolicy{}, 0, fmt.Errorf("upstream %s: reading the policy: %w", c.up.Name, err)
	}
	if len(data) > maxPageBytes {
		return patchgate.ReplicaPolicy{}, 0, fmt.Errorf("upstream %s: policy exceeds %d bytes", c.up.Name, maxPageBytes)
	}
	var page adminapi.ReplicaPolicyPage
	if err := json.Unmarshal(data, &page); err != nil {
		return patchgate.ReplicaPolicy{}, 0, fmt.Errorf("upstream %s: malformed policy: %v", c.up.Name, err)
	}
	if err := patchgate.ValidateReplicaPolicy(page.ReplicaPolicy); err != nil {
		return patchgate.ReplicaPolicy{}, 0, fmt.Errorf("upstream %s: %w", c.up.Name, err)
	}
	return page.ReplicaPolicy, int64(len(data)), nil
}

// postCompliance rolls compliance summaries up to the upstream.
func (c *client) postCompliance(ctx context.Context, chain []string, sites []patchgate.SiteCompliance) error {
	data, err := json.Marshal(adminapi.SiteComplianceReport{Sites: sites})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.up.URL+"/api/v1/feed/compliance", bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.up.Token)
	req.Header.Set(patchgate.HeaderServerChain, strings.Join(chain, ","))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("upstream %s: %w", c.up.Name, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return c.errorFrom(resp)
	}
	return nil
}

// checkPage validates a feed page as outside input: a server id, at most
// limit entries in increasing feed order after the cursor, each a valid
// update, and a next cursor that does not go back.
func checkPage(p adminapi.FeedPage, cursor int64, limit int) error {
	if !patchgate.ValidServerID(p.ServerID) {
		return patchgate.Invalid("server_id", "%q is not a server id", p.ServerID)
	}
	if len(p.Ancestors) == 0 || len(p.Ancestors) > patchgate.MaxChainLen || p.Ancestors[0] != p.ServerID {
		return patchgate.Invalid("ancestors", "must start with the server id and hold at most %d ids", patchgate.MaxChainLen)
	}
	for i, id := range p.Ancestors {
		if !patchgate.ValidServerID(id) {
			return patchgate.Invalid(fmt.Sprintf("ancestors[%d]", i), "%q is not a server id", id)
		}
	}
	if len(p.Repos) > patchgate.MaxChainLen {
		return patchgate.Invalid("repos", "%d repositories, more than %d", len(p.Repos), patchgate.MaxChainLen)
	}
	for i, repo := range p.Repos {
		if !patchgate.ValidServerID(repo) || slices.Contains(p.Repos[:i], repo) {
			return patchgate.Invalid(fmt.Sprintf("repos[%d]", i), "%q is not a server id, or is listed twice", repo)
		}
	}
	if len(p.Entries) > limit {
		return patchgate.Invalid("entries", "%d entries, more than the %d asked for", len(p.Entries), limit)
	}
	last := cursor
	for i, e := range p.Entries {
		if e.Seq <= last {
			return patchgate.Invalid(fmt.Sprintf("entries[%d].seq", i), "%d is not after %d", e.Seq, last)
		}
		last = e.Seq
		if err := patchgate.ValidateFeedEntry(e); err != nil {
			var pe *patchgate.Error
			if errors.As(err, &pe) {
				return patchgate.Invalid(fmt.Sprintf("entries[%d].%s", i, pe.Field), "%s", pe.Message)
			}
			return err
		}
	}
	if p.Next < last {
		return patchgate.Invalid("next", "cursor %d is before the page's last entry %d", p.Next, last)
	}
	if p.Remaining < 0 {
		return patchgate.Invalid("remaining", "must not be negative")
	}
	return nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

package patchgate

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Upstream sync and server hierarchy (issue 7).
//
// An upstream server exposes a change feed of its released catalog to
// tokens of the downstream role; a downstream server pulls it from a
// cursor and stores what it gets as already released, remembering the
// upstream each update came from (its origin).

// ContentPolicy says when a downstream fetches a synced update's payloads.
type ContentPolicy string

const (
	// ContentOnApproval fetches once the update is approved for install
	// on this server (or when a host or downstream asks for it).
	ContentOnApproval ContentPolicy = "on-approval"
	// ContentImmediate fetches as soon as the update is synced.
	ContentImmediate ContentPolicy = "immediate"
)

// Valid reports whether p is a known policy.
func (p ContentPolicy) Valid() bool { return p == ContentOnApproval || p == ContentImmediate }

// Upstream is a server this one syncs from. Token is the secret of a
// downstream-role token on the upstream: stored, never shown again.
type Upstream struct {
	Name          string        `json:"name"`
	URL           string        `json:"url"`
	CAFingerprint string        `json:"ca_fingerprint,omitempty"`
	Token         string        `json:"-"`
	Products      []string      `json:"products,omitempty"`
	Kinds         []Kind        `json:"kinds,omitempty"`
	Content       ContentPolicy `json:"content"`
	// Mode replica takes groups, approvals and windows from the upstream.
	Mode UpstreamMode `json:"mode"`
	// Cursor is the feed position up to which everything is stored.
	Cursor int64 `json:"cursor"`
	// Ancestors is the chain of server ids above this server through the
	// upstream, as its last feed page said: the upstream's id first.
	Ancestors []string  `json:"ancestors,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	// RootPins are the fingerprints (sha256 of 1.root.json) the TUF
	// repositories mirrored from this upstream must have, by repository
	// (a publishing server's id); a repository without one is trusted
	// on the first sync that mirrors it.
	RootPins map[string]string `json:"root_pins,omitempty"`
}

var upstreamNamePattern = MustBoundedPattern(`^[a-z0-9][a-z0-9._-]*$`, 1, 64)

// MaxUpstreamFilters bounds the product and kind filters of an upstream.
const MaxUpstreamFilters = 64

// Validate checks an upstream as an admin gives it and names the first
// wrong field.
func (u *Upstream) Validate() error {
	if !upstreamNamePattern.MatchString(u.Name) {
		return Invalid("name", "%q is not an upstream name (lowercase letters, digits, . _ -; at most 64)", u.Name)
	}
	if len(u.URL) > 2048 {
		return Invalid("url", "longer than 2048 bytes")
	}
	p, err := url.Parse(u.URL)
	if err != nil || p.Host == "" || (p.Scheme != "https" && p.Scheme != "http") {
		return Invalid("url", "%q is not an https:// (or http://) URL", u.URL)
	}
	if p.User != nil || p.RawQuery != "" || p.Fragment != "" {
		return Invalid("url", "give only scheme, host, port and optional path")
	}
	if p.Scheme == "https" && u.CAFingerprint == "" {
		return Invalid("ca_fingerprint", "is required for an https:// upstream: it pins the upstream's CA")
	}
	if u.Token == "" {
		return Invalid("token", "is required: a downstream-role token of the upstream")
	}
	if len(u.Token) > 200 || strings.ContainsAny(u.Token, " \t\r\n") {
		return Invalid("token", "is not a patchgate API token")
	}
	if len(u.Products) > MaxUpstreamFilters {
		return Invalid("products", "more than %d entries", MaxUpstreamFilters)
	}
	for i, p := range u.Products {
		if !ValidProductName(p) {
			return Invalid(fmt.Sprintf("products[%d]", i), "invalid product name %q", p)
		}
	}
	if len(u.RootPins) > MaxChainLen {
		return Invalid("root_pins", "more than %d entries", MaxChainLen)
	}
	for repo, fp := range u.RootPins {
		if !ValidServerID(repo) {
			return Invalid("root_pins", "%q is not a repository name (the id of the server that publishes it, as sync status shows)", repo)
		}
		if !sha256Pattern.MatchString(fp) { // a root fingerprint is a sha256
			return Invalid("root_pins", "repository %s: %q is not a root fingerprint (64 lowercase hex characters)", repo, fp)
		}
	}
	if len(u.Kinds) > MaxUpstreamFilters {
		return Invalid("kinds", "more than %d entries", MaxUpstreamFilters)
	}
	for i, k := range u.Kinds {
		if !k.Valid() {
			return Invalid(fmt.Sprintf("kinds[%d]", i), "must be one of %v, not %q", Kinds, k)
		}
	}
	if u.Content == "" {
		u.Content = ContentOnApproval
	}
	if !u.Content.Valid() {
		return Invalid("content", "must be on-approval or immediate, not %q", u.Content)
	}
	if u.Mode == "" {
		u.Mode = ModeAutonomous
	}
	if !u.Mode.Valid() {
		return Invalid("mode", "must be autonomous or replica, not %q", u.Mode)
	}
	return nil
}

// Matches reports whether update u passes the upstream's filters: one of
// its products is listed (or none are), and its kind is listed (or none
// are).
func (u Upstream) Matches(up Update) bool {
	if len(u.Kinds) > 0 && !slices.Contains(u.Kinds, up.Kind) {
		return false
	}
	if len(u.Products) == 0 {
		return true
	}
	for _, p := range up.Products {
		if slices.Contains(u.Products, p.Name) {
			return true
		}
	}
	return false
}

// FeedEntry is one change of the feed: an update at its latest revision
// and its release status (posted, superseded or withdrawn). Seq is the
// feed position of the change.
type FeedEntry struct {
	Seq    int64        `json:"seq"`
	Update Update       `json:"update"`
	Status UpdateStatus `json:"status"`
	// Repo is the TUF repository that signs the update's payloads: the
	// id of the server that published it (issue 8); empty from a server
	// without signed updates.
	Repo string `json:"repo,omitempty"`
}

// FeedVisible reports whether updates in status s appear in the feed:
// released ones and withdrawals (so downstreams withdraw them too).
func FeedVisible(s UpdateStatus) bool { return s.Released() || s == StatusWithdrawn }

// MaxFeedLimit bounds one page of the feed.
const MaxFeedLimit = 1000

// ValidateFeedEntry checks an entry received from an upstream, as outside
// input: a valid update at a revision, with every payload addressed by
// sha256 and size, in a feed-visible status.
func ValidateFeedEntry(e FeedEntry) error {
	if e.Seq <= 0 {
		return Invalid("seq", "must be positive")
	}
	if e.Repo != "" && !ValidServerID(e.Repo) {
		return Invalid("repo", "%q is not a repository name (the id of the server that publishes the update)", e.Repo)
	}
	if !FeedVisible(e.Status) {
		return Invalid("status", "%q is not posted, superseded or withdrawn", e.Status)
	}
	u := e.Update
	if u.Revision < 1 {
		return Invalid("update.revision", "must be at least 1")
	}
	m := Manifest{ID: u.ID, Title: u.Title, Description: u.Description, Kind: u.Kind, Severity: u.Severity,
		Products: u.Products, CVEs: u.CVEs, Supersedes: u.Supersedes, Requires: u.Requires, Reboot: u.Reboot}
	if !u.ReleaseDate.IsZero() {
		m.ReleaseDate = u.ReleaseDate.Format(time.RFC3339)
	}
	for _, p := range u.Payloads {
		m.Payloads = append(m.Payloads, ManifestPayload{Name: p.Name, Size: p.Size, SHA256: p.SHA256, Installer: p.Installer, Args: p.Args})
	}
	if err := m.Validate(); err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return &Error{Code: pe.Code, Field: "update." + pe.Field, Message: pe.Message}
		}
		return err
	}
	for i, p := range u.Payloads {
		if !sha256Pattern.MatchString(p.SHA256) {
			return Invalid(fmt.Sprintf("update.payloads[%d].sha256", i), "is required: 64 lowercase hex characters")
		}
		if p.Size <= 0 {
			return Invalid(fmt.Sprintf("update.payloads[%d].size", i), "must be positive")
		}
	}
	return nil
}

// SyncLocal is what a downstream holds of an update a feed entry names.
type SyncLocal struct {
	Exists bool
	// Origin is the upstream the update came from; "" for an update added
	// on this server.
	Origin string
	// UpstreamRevision and UpstreamStatus are what the origin said last.
	UpstreamRevision int
	UpstreamStatus   UpdateStatus
}

// SyncAction is what a downstream does with one feed entry.
type SyncAction string

const (
	SyncNew      SyncAction = "new"       // store it, released
	SyncRevise   SyncAction = "revised"   // store the newer revision
	SyncWithdraw SyncAction = "withdrawn" // the upstream withdrew it
	SyncStatus   SyncAction = "status"    // another status change (superseded)
	SyncFiltered SyncAction = "filtered"  // outside the upstream's filters
	SyncConflict SyncAction = "conflict"  // the id belongs to another origin
	SyncSkip     SyncAction = "unchanged" // nothing new, or a withdrawal of an update never stored
)

// DecideSync decides what a downstream does with entry e from upstream
// when it holds local of the same update id. An id stored from another
// origin (another upstream, or this server itself) is a conflict, never
// overwritten. A new id outside the filters is filtered out; a withdrawal
// of an id never stored is skipped. An id already stored from this
// upstream follows it (filters apply to new ids only, so that a
// withdrawal always reaches the updates synced before).
func DecideSync(upstream Upstream, local SyncLocal, e FeedEntry) SyncAction {
	switch {
	case local.Exists && local.Origin != upstream.Name:
		return SyncConflict
	case !local.Exists && e.Status == StatusWithdrawn:
		return SyncSkip
	case !local.Exists && !upstream.Matches(e.Update):
		return SyncFiltered
	case !local.Exists:
		return SyncNew
	case e.Update.Revision > local.UpstreamRevision:
		if e.Status == StatusWithdrawn {
			return SyncWithdraw
		}
		return SyncRevise
	case e.Update.Revision < local.UpstreamRevision || e.Status == local.UpstreamStatus:
		return SyncSkip
	case e.Status == StatusWithdrawn:
		return SyncWithdraw
	}
	return SyncStatus
}

// SyncCounts summarises what a sync stored.
type SyncCounts struct {
	New         int   `json:"new"`
	Revised     int   `json:"revised"`
	Withdrawn   int   `json:"withdrawn"`
	FilteredOut int   `json:"filtered_out"`
	Conflicts   int   `json:"conflicts"`
	Unchanged   int   `json:"unchanged"`
	Bytes       int64 `json:"bytes"` // feed and content bytes fetched
}

// Add adds o to c.
func (c *SyncCounts) Add(o SyncCounts) {
	c.New += o.New
	c.Revised += o.Revised
	c.Withdrawn += o.Withdrawn
	c.FilteredOut += o.FilteredOut
	c.Conflicts += o.Conflicts
	c.Unchanged += o.Unchanged
	c.Bytes += o.Bytes
}

// SyncBatch is one page of the feed for ApplySync: its entries, the
// cursor it starts from (the store refuses it if the upstream's cursor
// moved meanwhile) and the cursor it ends at.
type SyncBatch struct {
	Upstream string
	// Ancestors is the upstream's chain upwards from its last page.
	Ancestors []string
	From      int64
	Next      int64
	Entries   []FeedEntry
	At        time.Time
	Actor     string
	Bytes     int64
}

// SyncApplied is what ApplySync stored: its counts and the ids of the new
// and revised updates (their content may be fetched at once).
type SyncApplied struct {
	Counts  SyncCounts
	Changed []string
}

// SyncRunStatus is where a sync run stands.
type SyncRunStatus string

const (
	SyncRunning   SyncRunStatus = "running"
	SyncSucceeded SyncRunStatus = "succeeded"
	SyncFailed    SyncRunStatus = "failed"
)

// SyncRun is one sync of one upstream, for `sync status`.
type SyncRun struct {
	ID         string        `json:"id"`
	Upstream   string        `json:"upstream"`
	Status     SyncRunStatus `json:"status"`
	StartedAt  time.Time     `json:"started_at"`
	FinishedAt time.Time     `json:"finished_at,omitzero"`
	Trigger    string        `json:"trigger"` // "manual" or "schedule"
	Counts     SyncCounts    `json:"counts"`
	Cursor     int64         `json:"cursor"`
	Error      string        `json:"error,omitempty"`
	// Policy is what a replica took from its upstream.
	Policy *ReplicaApplied `json:"policy,omitempty"`
	// Progress of a running sync: entries seen of an estimated total.
	Done  int `json:"done,omitempty"`
	Total int `json:"total,omitempty"`
}

// SyncConflictRecord is an update id offered by an upstream while held
// from another origin.
type SyncConflictRecord struct {
	Upstream  string    `json:"upstream"`
	UpdateID  string    `json:"update_id"`
	Held      string    `json:"held_from"` // the other origin; "local" for this server
	Revision  int       `json:"revision"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// SyncedPayload is a payload of a synced update: where its content comes
// from, and whether the update is approved for install here.
type SyncedPayload struct {
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	Upstream string `json:"upstream"`
	Approved bool   `json:"approved"`
}

// Event types of upstream sync.
const (
	EventUpdateSynced   = "update.synced"
	EventSyncCompleted  = "sync.completed"
	EventSyncFailed     = "sync.failed"
	EventSyncConflict   = "sync.conflict"
	EventUpstreamChange = "upstream.changed"
)

// Server identity and loops. Every server has an id; a downstream sends
// the chain of server ids below the upstream (itself first, then the
// servers that sync from it, as they told it) with each feed request, and
// an upstream whose own id is in it refuses: it would sync from itself.

// HeaderServerChain carries the chain of server ids on feed requests.
const HeaderServerChain = "X-Patchgate-Chain"

// MaxChainLen bounds the chain of server ids.
const MaxChainLen = 64

var serverIDPattern = MustBoundedPattern(`^srv-[0-9a-f]+$`, 20, 20)

// ValidServerID reports whether s is a server id ("srv-" and 16 hex).
func ValidServerID(s string) bool { return serverIDPattern.MatchString(s) }

// ParseChain parses a chain header: server ids separated by commas.
func ParseChain(h string) ([]string, error) {
	if len(h) > MaxChainLen*24 {
		return nil, Invalid(HeaderServerChain, "longer than %d server ids", MaxChainLen)
	}
	if strings.TrimSpace(h) == "" {
		return nil, Invalid(HeaderServerChain, "is required: the server ids of the syncing chain")
	}
	var ids []string
	for _, p := range strings.Split(h, ",") {
		p = strings.TrimSpace(p)
		if !ValidServerID(p) {
			return nil, Invalid(HeaderServerChain, "%q is not a server id", truncate(p, 40))
		}
		if !slices.Contains(ids, p) {
			ids = append(ids, p)
		}
	}
	if len(ids) > MaxChainLen {
		return nil, Invalid(HeaderServerChain, "more than %d server ids", MaxChainLen)
	}
	return ids, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// CheckChain refuses a feed request whose chain contains self: the
// requesting server (or one syncing from it) is this server, so syncing
// would go round in a loop.
func CheckChain(self string, chain []string) error {
	if slices.Contains(chain, self) {
		return Errorf(CodeConflict, "sync loop refused: server %s is already in the requesting chain %s", self, strings.Join(chain, " ← "))
	}
	return nil
}

// CheckLoop refuses a feed request whose chain (the requester and the
// servers below it) shares a server with ancestors (this server and the
// servers above it): the requester would sync, through the chain, from
// itself.
func CheckLoop(ancestors, chain []string) error {
	for _, id := range chain {
		if slices.Contains(ancestors, id) {
			return Errorf(CodeConflict, "sync loop refused: server %s is both above this server (%s) and in the requesting chain (%s)",
				id, strings.Join(ancestors, " → "), strings.Join(chain, " ← "))
		}
	}
	return nil
}

// BuildChain is the chain a server sends upstream: its own id, then the
// ids of the chains its downstreams sent it, once each, at most
// MaxChainLen.
func BuildChain(self string, downstream [][]string) []string {
	out := []string{self}
	for _, c := range downstream {
		for _, id := range c {
			if len(out) < MaxChainLen && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

// NextSync returns the first scheduled sync after t for perDay syncs a
// day, evenly spaced from midnight UTC shifted by offset (chosen at random
// once, like WSUS, so that many downstreams do not sync at once). perDay
// < 1 means no schedule: the zero time.
func NextSync(t time.Time, perDay int, offset time.Duration) time.Time {
	if perDay < 1 {
		return time.Time{}
	}
	step := 24 * time.Hour / time.Duration(perDay)
	offset %= step
	if offset < 0 {
		offset += step
	}
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	for next := day.Add(offset - step); ; next = next.Add(step) {
		if next.After(t) {
			return next
		}
	}
}

// UpstreamStore holds the upstreams a downstream syncs from, the sync
// history, and on an upstream the feed and the chains of its downstreams.
type UpstreamStore interface {
	// ServerID returns this server's id, created with the database.
	ServerID(ctx context.Context) (string, error)
	// FeedChanges returns up to limit feed entries after cursor after, in
	// feed order: every update whose status or latest revision changed,
	// once, at its latest change, if FeedVisible. next is the cursor to
	// continue from (past invisible changes too); remaining counts the
	// visible entries after the page.
	FeedChanges(ctx context.Context, after int64, limit int) (entries []FeedEntry, next int64, remaining int, err error)
	// RecordDownstream remembers the chain a downstream server sent.
	RecordDownstream(ctx context.Context, serverID string, chain []string, at time.Time) error
	// DownstreamChains returns the chains downstreams sent since a time.
	DownstreamChains(ctx context.Context, since time.Time) ([][]string, error)

	// AddUpstream stores u (conflict if the name exists) with ev.
	AddUpstream(ctx context.Context, u Upstream, ev Event) error
	// Upstreams lists the upstreams by name, with their tokens.
	Upstreams(ctx context.Context) ([]Upstream, error)
	// GetUpstream returns one upstream with its token, or not_found.
	GetUpstream(ctx context.Context, name string) (Upstream, error)
	// RemoveUpstream deletes an upstream (not_found if unknown); the
	// updates synced from it stay, with their origin.
	RemoveUpstream(ctx context.Context, name string, ev Event) error

	// ApplySync stores one page of an upstream's feed in one transaction:
	// each entry as DecideSync says (new updates as released, with their
	// origin and upstream revision; conflicts recorded), an event per new
	// update (update.synced), revision and status change, and the
	// upstream's cursor moved from b.From to b.Next. If the cursor is not
	// at b.From it is a conflict and nothing is stored.
	ApplySync(ctx context.Context, b SyncBatch) (SyncApplied, error)
	// SyncConflicts lists the recorded conflicts.
	SyncConflicts(ctx context.Context) ([]SyncConflictRecord, error)
	// SyncedPayloads lists the payloads of updates synced from upstreams,
	// with whether the update is approved for install in some group;
	// sha "" lists all, else the payloads with that sha256.
	SyncedPayloads(ctx context.Context, sha string) ([]SyncedPayload, error)

	// StartSyncRun records a running sync.
	StartSyncRun(ctx context.Context, r SyncRun) error
	// FinishSyncRun records its outcome with ev (sync.completed or
	// sync.failed).
	FinishSyncRun(ctx context.Context, r SyncRun, ev Event) error
	// SyncRuns returns the newest limit runs (of upstream, or all), newest
	// first.
	SyncRuns(ctx context.Context, upstream string, limit int) ([]SyncRun, error)
}

// SiteCompliance is one site's compliance summary, rolled up the chain of
// servers: each downstream sends its own and those its downstreams sent it
// to its upstreams after a sync.
type SiteCompliance struct {
	ServerID    string          `json:"server_id"`
	Name        string          `json:"name"`
	GeneratedAt time.Time       `json:"generated_at"`
	Rows        []ComplianceRow `json:"rows"`
	// Set by the receiving server: when it got the summary, and from
	// which downstream server.
	ReceivedAt time.Time `json:"received_at,omitzero"`
	Via        string    `json:"via,omitempty"`
}

// MaxSiteRows bounds the rows of one site's summary.
const MaxSiteRows = 200_000

// ValidateSiteCompliance checks a summary received from a downstream.
func ValidateSiteCompliance(sc SiteCompliance) error {
	if !ValidServerID(sc.ServerID) {
		return Invalid("server_id", "%q is not a server id", truncate(sc.ServerID, 40))
	}
	if strings.TrimSpace(sc.Name) == "" {
		return Invalid("name", "is required")
	}
	if err := validText("name", sc.Name, 128, false); err != nil {
		return err
	}
	if sc.GeneratedAt.IsZero() {
		return Invalid("generated_at", "is required")
	}
	if len(sc.Rows) > MaxSiteRows {
		return Invalid("rows", "more than %d rows", MaxSiteRows)
	}
	for i, r := range sc.Rows {
		f := fmt.Sprintf("rows[%d]", i)
		if !ValidUpdateID(r.UpdateID) {
			return Invalid(f+".update_id", "%q is not an update id", truncate(r.UpdateID, 40))
		}
		if err := validText(f+".title", r.Title, MaxTitleLen, false); err != nil {
			return err
		}
		if err := validText(f+".group", r.Group, 128, false); err != nil {
			return err
		}
		for _, n := range []int{r.Hosts, r.Installed, r.Needed, r.InProgress, r.Failed, r.NotApplicable, r.RebootPending, r.Unknown, r.ManualActionRequired} {
			if n < 0 {
				return Invalid(f, "counts must not be negative")
			}
		}
	}
	return nil
}

// SiteStore holds the compliance summaries downstream sites rolled up.
type SiteStore interface {
	// PutSiteCompliance replaces every summary received via the
	// downstream server via with sites, received at at.
	PutSiteCompliance(ctx context.Context, via string, sites []SiteCompliance, at time.Time) error
	// SiteCompliances returns the stored summaries by name, then server id.
	SiteCompliances(ctx context.Context) ([]SiteCompliance, error)
}

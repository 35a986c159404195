package patchgate

import (
	"time"
)

// Kind classifies an update.
type Kind string

const (
	KindHotfix         Kind = "hotfix"
	KindSecurity       Kind = "security"
	KindCritical       Kind = "critical"
	KindServiceRelease Kind = "service-release"
	KindFeature        Kind = "feature"
	KindDefinition     Kind = "definition"
)

// Kinds lists every valid kind.
var Kinds = []Kind{KindHotfix, KindSecurity, KindCritical, KindServiceRelease, KindFeature, KindDefinition}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Severity of an update; critical is Severity 1.
type Severity string

const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
)

// Severities lists every valid severity, most severe first.
var Severities = []Severity{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow}

// Rank orders severities: critical is 4, low is 1, invalid is 0.
func (s Severity) Rank() int {
	for i, v := range Severities {
		if s == v {
			return len(Severities) - i
		}
	}
	return 0
}

// Valid reports whether s is one of Severities.
func (s Severity) Valid() bool { return s.Rank() > 0 }

// InstallerType is how the agent applies a payload. The set is closed: an
// agent refuses any other value.
type InstallerType string

const (
	InstallerExec InstallerType = "exec"
	InstallerDpkg InstallerType = "dpkg"
)

// Installers lists the closed set of installer types.
var Installers = []InstallerType{InstallerExec, InstallerDpkg}

// Valid reports whether t is in the closed set.
func (t InstallerType) Valid() bool {
	for _, v := range Installers {
		if t == v {
			return true
		}
	}
	return false
}

// Reboot says whether installing an update needs a reboot.
type Reboot string

const (
	RebootNever    Reboot = "never"
	RebootMay      Reboot = "may"      // the installer's exit code tells
	RebootRequired Reboot = "required" // always reboot after install
)

// Valid reports whether r is a known reboot behaviour.
func (r Reboot) Valid() bool { return r == RebootNever || r == RebootMay || r == RebootRequired }

// ProductConstraint names a product an update applies to and the versions of
// it (a Constraint expression, empty = every version).
type ProductConstraint struct {
	Name     string `json:"name"`
	Versions string `json:"versions,omitempty"`
}

// Payload is a file of an update, addressed by its sha256.
type Payload struct {
	Name      string        `json:"name"`
	Size      int64         `json:"size"`
	SHA256    string        `json:"sha256"`
	Installer InstallerType `json:"installer"`
	Args      []string      `json:"args,omitempty"`
	// Constituent is, in a Service Release, the update this payload
	// comes from: an agent skips the payloads of constituents its host
	// already has (PayloadsToRun). Manifests cannot set it.
	Constituent string `json:"constituent,omitempty"`
}

// Update is one fix, at one revision.
type Update struct {
	ID          string              `json:"id"`
	Revision    int                 `json:"revision"`
	Title       string              `json:"title"`
	Description string              `json:"description,omitempty"`
	Kind        Kind                `json:"kind"`
	Severity    Severity            `json:"severity"`
	Products    []ProductConstraint `json:"products"`
	CVEs        []string            `json:"cves,omitempty"`
	ReleaseDate time.Time           `json:"release_date,omitzero"`
	Supersedes  []string            `json:"supersedes,omitempty"`
	Requires    []string            `json:"requires,omitempty"`
	Reboot      Reboot              `json:"reboot"`
	Payloads    []Payload           `json:"payloads"`
	CreatedAt   time.Time           `json:"created_at,omitzero"`
	CreatedBy   string              `json:"created_by,omitempty"`
	// Advisories names the security advisories (ids) the update fixes.
	Advisories []string `json:"advisories,omitempty"`
}

// Mode says whether a host's agent installs (automatic) or whether patching
// must be done by hand (manual: the server computes and people are told).
type Mode string

const (
	ModeAutomatic Mode = "automatic"
	ModeManual    Mode = "manual"
)

// Valid reports whether m is a known mode.
func (m Mode) Valid() bool { return m == ModeAutomatic || m == ModeManual }

// InstalledProduct is a product found on a host, at a version.
type InstalledProduct struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Inventory is what an agent reports about its host at check-in.
type Inventory struct {
	Hostname  string             `json:"hostname"`
	OS        string             `json:"os"`
	Arch      string             `json:"arch"`
	Mode      Mode               `json:"mode"`
	Products  []InstalledProduct `json:"products"`
	Installed []string           `json:"installed"` // update IDs
	// RebootPending lists updates installed but waiting for a reboot.
	RebootPending []string `json:"reboot_pending,omitempty"`
	Agent         string   `json:"agent,omitempty"` // agent version
	// Interval is the agent's polling interval; a host silent for two
	// intervals counts as unknown in compliance.
	Interval time.Duration `json:"interval"`
}

// Host is a managed computer.
type Host struct {
	ID          string    `json:"id"`
	Inventory             // last reported
	Groups      []string  `json:"groups"`
	EnrolledAt  time.Time `json:"enrolled_at"`
	LastCheckin time.Time `json:"last_checkin,omitzero"`
	// InventoryDigest identifies the last stored inventory.
	InventoryDigest string `json:"inventory_digest,omitempty"`
}

// GroupAll is the group every host is in.
const GroupAll = "all"

// Group is a set of hosts; approvals attach to groups.
type Group struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	Hosts       int       `json:"hosts"`
	// Parent is the group it is nested in; "" = directly below GroupAll
	// (see grouptree.go).
	Parent string `json:"parent,omitempty"`
	// RebootPolicy is the group's own; "" inherits from the parent.
	RebootPolicy RebootPolicy `json:"reboot_policy,omitempty"`
}

// Action is what an approval asks for.
type Action string

const (
	ActionInstall   Action = "install"
	ActionUninstall Action = "uninstall"
	ActionDecline   Action = "decline"
)

// Valid reports whether a is a known action.
func (a Action) Valid() bool { return a == ActionInstall || a == ActionUninstall || a == ActionDecline }

// Approval is an admin's decision for (update, group).
type Approval struct {
	UpdateID string     `json:"update_id"`
	Group    string     `json:"group"`
	Action   Action     `json:"action"`
	Deadline *time.Time `json:"deadline,omitempty"`
	// Emergency installs outside maintenance windows.
	Emergency bool      `json:"emergency,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// DeploymentState is the state of one update on one host.
type DeploymentState string

const (
	StateNotApplicable DeploymentState = "not-applicable"
	StateNeeded        DeploymentState = "needed"
	StateDownloading   DeploymentState = "downloading"
	StateInstalling    DeploymentState = "installing"
	StateInstalled     DeploymentState = "installed"
	StateFailed        DeploymentState = "failed"
	StateRebootPending DeploymentState = "reboot-pending"
	// StateUnknown is derived, never stored: the host has been silent for
	// more than two check-in intervals.
	StateUnknown DeploymentState = "unknown"
)

// Deployment is the last known state of an update on a host, as reported by
// its agent.
type Deployment struct {
	HostID    string          `json:"host_id"`
	UpdateID  string          `json:"update_id"`
	State     DeploymentState `json:"state"`
	ExitCode  int             `json:"exit_code,omitempty"`
	Detail    string          `json:"detail,omitempty"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Role is what an API token may do. Each role includes the ones below it
// in RoleIncludes.
type Role string

const (
	RoleAdmin     Role = "admin"
	RoleApprover  Role = "approver"
	RolePublisher Role = "publisher"
	RoleViewer    Role = "viewer"
	// RoleDownstream is a downstream server's token: it reads the change
	// feed and content, nothing else (not even what viewers read).
	RoleDownstream Role = "downstream"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	return r == RoleAdmin || r == RoleApprover || r == RolePublisher || r == RoleViewer || r == RoleDownstream
}

// Allows reports whether a token with role r may act where need is required:
// admin may do everything, approver and publisher may also view.
func (r Role) Allows(need Role) bool {
	switch {
	case r == RoleAdmin:
		return true
	case r == need:
		return true
	case need == RoleViewer:
		return r == RoleApprover || r == RolePublisher
	}
	return false
}

// TokenKind separates API tokens from enrolment tokens.
type TokenKind string

const (
	TokenAPI    TokenKind = "api"
	TokenEnroll TokenKind = "enroll"
)

// Token is an API or enrolment token. The secret is never stored: only its
// SHA-256.
type Token struct {
	ID         string     `json:"id"`
	Kind       TokenKind  `json:"kind"`
	Name       string     `json:"name,omitempty"`
	Role       Role       `json:"role,omitempty"`  // api tokens
	Group      string     `json:"group,omitempty"` // enrol tokens: hosts join it
	Mode       Mode       `json:"mode,omitempty"`  // enrol tokens: default mode, "" = agent decides
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	UsesLeft   *int       `json:"uses_left,omitempty"` // nil = unlimited
	SecretHash []byte     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by,omitempty"`
	Revoked    bool       `json:"revoked,omitempty"`
}

// Event is something that happened, appended to the activity log. Agent
// events carry the agent's own ID so a retried report is stored once.
type Event struct {
	ID       string          `json:"id"`
	Seq      int64           `json:"seq,omitempty"` // assigned by the store
	Time     time.Time       `json:"time"`
	Type     string          `json:"type"`
	Actor    string          `json:"actor,omitempty"` // token name or host:ID
	HostID   string          `json:"host_id,omitempty"`
	UpdateID string          `json:"update_id,omitempty"`
	State    DeploymentState `json:"state,omitempty"` // agent deployment events
	ExitCode int             `json:"exit_code,omitempty"`
	Detail   string          `json:"detail,omitempty"`
}

// Event types.
const (
	EventUpdateAdded   = "update.added"
	EventUpdateRevised = "update.revised"
	EventApproved      = "approval.set"
	EventUnapproved    = "approval.removed"
	EventHostEnrolled  = "host.enrolled"
	EventGroupChanged  = "group.changed"
	EventTokenCreated  = "token.created"
	EventTokenRevoked  = "token.revoked"
	EventDeployment    = "deployment" // agent: a step of an install
)

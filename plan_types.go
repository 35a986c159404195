package patchgate

import "time"

// PlanItem is one thing a host should do.
type PlanItem struct {
	UpdateID string     `json:"update_id"`
	Revision int        `json:"revision"`
	Title    string     `json:"title"`
	Kind     Kind       `json:"kind"`
	Severity Severity   `json:"severity"`
	Action   Action     `json:"action"` // install or uninstall
	Deadline *time.Time `json:"deadline,omitempty"`
	Reboot   Reboot     `json:"reboot"`
	Payloads []Payload  `json:"payloads"`
	// Emergency: an admin approved it to install outside maintenance
	// windows.
	Emergency bool `json:"emergency,omitempty"`
	// InstallAllowed says whether the agent may carry the item out now
	// (DecideInstall); nil, from a server that predates windows, means yes.
	// Use MayInstall.
	InstallAllowed *bool      `json:"install_allowed,omitempty"`
	WindowClosesAt *time.Time `json:"window_closes_at,omitempty"`
	NextWindow     *time.Time `json:"next_window,omitempty"`
	InstallReason  string     `json:"install_reason,omitempty"`
	// EstimatedSeconds is how long the install is expected to take,
	// estimated from past installs (ApplyInstallEstimates); 0 = unknown.
	EstimatedSeconds int64 `json:"estimated_install_seconds,omitempty"`
	// Repo is the TUF repository whose targets sign the item's payloads
	// ("local" for this server's own updates, else the upstream's name);
	// each payload's target path is <update_id>/r<revision>/<payload name>.
	// The agent refuses the item unless that signed metadata matches.
	Repo string `json:"repo,omitempty"`
}

// MayInstall reports whether the item may be carried out now.
func (it PlanItem) MayInstall() bool { return it.InstallAllowed == nil || *it.InstallAllowed }

// Plan is what a host should install or uninstall now, in order
// (prerequisites first). Manual hosts get the same items with Manual set:
// their agent never installs, people do.
type Plan struct {
	HostID string     `json:"host_id"`
	Manual bool       `json:"manual,omitempty"`
	Items  []PlanItem `json:"items"`
	// Blocked lists approved, applicable updates that cannot be planned
	// yet, with the reason (e.g. a prerequisite that is not approved).
	Blocked []BlockedItem `json:"blocked,omitempty"`
	// RebootPolicy is the host's reboot policy (GroupTree.RebootPolicyFor);
	// "" from a server that predates it means if-required.
	RebootPolicy RebootPolicy `json:"reboot_policy,omitempty"`
}

// BlockedItem is an approved update held back, and why.
type BlockedItem struct {
	UpdateID string `json:"update_id"`
	Reason   string `json:"reason"`
}

package patchgate

import (
	"context"
	"fmt"
	"slices"
)

// Replica mode: a downstream that follows an upstream in replica mode
// takes its groups, approvals and maintenance windows from it, read-only
// locally; hosts are still assigned to groups locally.

// UpstreamMode says whether a downstream decides for itself or follows
// the upstream's policy.
type UpstreamMode string

const (
	ModeAutonomous UpstreamMode = "autonomous" // own groups, approvals, windows (default)
	ModeReplica    UpstreamMode = "replica"    // the upstream's, read-only here
)

// Valid reports whether m is a known mode.
func (m UpstreamMode) Valid() bool { return m == ModeAutonomous || m == ModeReplica }

// ReplicaPolicy is what a replica takes from its upstream.
type ReplicaPolicy struct {
	Groups    []Group    `json:"groups"`
	Approvals []Approval `json:"approvals"`
	Windows   []Window   `json:"windows"`
}

// MaxReplicaItems bounds each list of a replica policy.
const MaxReplicaItems = 1_000_000

// ValidateReplicaPolicy checks a policy received from an upstream: group
// names, approvals of valid update ids with a known action for a listed
// group (or all), windows that compile, for listed groups.
func ValidateReplicaPolicy(p ReplicaPolicy) error {
	if len(p.Groups) > MaxReplicaItems || len(p.Approvals) > MaxReplicaItems || len(p.Windows) > MaxReplicaItems {
		return Invalid("policy", "more than %d entries in a list", MaxReplicaItems)
	}
	groups := []string{GroupAll}
	for i, g := range p.Groups {
		f := fmt.Sprintf("groups[%d]", i)
		if !upstreamNamePattern.MatchString(g.Name) {
			return Invalid(f+".name", "%q is not a group name", truncate(g.Name, 40))
		}
		if err := validText(f+".description", g.Description, 1024, false); err != nil {
			return err
		}
		if slices.Contains(groups, g.Name) {
			return Invalid(f+".name", "duplicate group %q", g.Name)
		}
		groups = append(groups, g.Name)
	}
	for i, a := range p.Approvals {
		f := fmt.Sprintf("approvals[%d]", i)
		if !ValidUpdateID(a.UpdateID) {
			return Invalid(f+".update_id", "%q is not an update id", truncate(a.UpdateID, 40))
		}
		if !slices.Contains(groups, a.Group) {
			return Invalid(f+".group", "%q is not a group of the policy", truncate(a.Group, 40))
		}
		if !a.Action.Valid() {
			return Invalid(f+".action", "must be install, uninstall or decline, not %q", a.Action)
		}
		if a.Emergency && a.Action != ActionInstall {
			return Invalid(f+".emergency", "only an install can be an emergency")
		}
		if err := validText(f+".created_by", a.CreatedBy, 256, false); err != nil {
			return err
		}
	}
	for i, w := range p.Windows {
		f := fmt.Sprintf("windows[%d]", i)
		if !slices.Contains(groups, w.Group) {
			return Invalid(f+".group", "%q is not a group of the policy", truncate(w.Group, 40))
		}
		if w.Duration <= 0 || w.Duration > MaxWindowDuration {
			return Invalid(f+".duration", "must be positive and at most %s", MaxWindowDuration)
		}
		if _, err := w.Compile(); err != nil {
			return Invalid(f+".schedule", "%v", err)
		}
	}
	return nil
}

// ReplicaApplied counts what applying a policy stored.
type ReplicaApplied struct {
	Changed   bool `json:"changed"` // false: the same policy as last time
	Groups    int  `json:"groups"`
	Approvals int  `json:"approvals"`
	Windows   int  `json:"windows"`
	// Skipped approvals name updates this server does not hold (filtered
	// out of its sync).
	Skipped int `json:"skipped"`
}

// EventReplicaPolicy records a replica taking a changed policy.
const EventReplicaPolicy = "replica.policy"

// ReplicaStore applies an upstream's policy.
type ReplicaStore interface {
	// ApplyReplicaPolicy makes this server's groups (all but GroupAll;
	// host memberships of kept groups stay), approvals and windows those
	// of p, in one transaction with ev, unless p has the digest stored
	// for upstream at the last application (then nothing changes).
	// Approvals of updates not held here are skipped.
	ApplyReplicaPolicy(ctx context.Context, upstream string, p ReplicaPolicy, digest string, ev Event) (ReplicaApplied, error)
}

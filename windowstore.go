package patchgate

import "context"

// WindowStore holds the maintenance windows of groups, at most one per
// group.
type WindowStore interface {
	// SetWindow stores w as the window of its group (which must exist, else
	// not_found), replacing any earlier one, in one transaction with ev.
	SetWindow(ctx context.Context, w Window, ev Event) error
	// DeleteWindow removes the window of group (not_found if it has none),
	// in one transaction with ev.
	DeleteWindow(ctx context.Context, group string, ev Event) error
	// ListWindows returns every window, ordered by group.
	ListWindows(ctx context.Context) ([]Window, error)
}

// Window event types.
const (
	EventWindowSet     = "window.set"
	EventWindowRemoved = "window.removed"
	// EventMarkedInstalled records an operator's manual install.
	EventMarkedInstalled = "host.marked-installed"
)

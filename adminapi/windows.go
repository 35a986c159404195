package adminapi

import (
	"time"

	"github.com/patchgate/patchgate"
)

// SetWindowRequest is PUT /api/v1/windows/{group}.
type SetWindowRequest struct {
	// Schedule is a cron expression or a monthly rule (see
	// patchgate.Window).
	Schedule string `json:"schedule"`
	// Duration is how long the window stays open, e.g. "4h" or "90m".
	Duration string `json:"duration"`
	// TimeZone is an IANA zone name, e.g. "Europe/Paris".
	TimeZone string `json:"time_zone"`
}

// WindowInfo is a window and its state when the server answered: one row
// of GET /api/v1/windows, and the answer of PUT.
type WindowInfo struct {
	patchgate.Window
	Open bool `json:"open"`
	// ClosesAt is set while the window is open; NextOpening otherwise.
	ClosesAt    *time.Time `json:"closes_at,omitempty"`
	NextOpening *time.Time `json:"next_opening,omitempty"`
}

// WindowNext is GET /api/v1/windows/{group}/next?count=N.
type WindowNext struct {
	Group    string          `json:"group"`
	TimeZone string          `json:"time_zone"`
	Openings []WindowOpening `json:"openings"`
}

// WindowOpening is one future opening of a window, in its zone.
type WindowOpening struct {
	Opens  time.Time `json:"opens"`
	Closes time.Time `json:"closes"`
}

// MaxWindowOpenings bounds the count of GET /api/v1/windows/{group}/next.
const MaxWindowOpenings = 100

// MarkInstalledRequest is POST /api/v1/hosts/{id}/installed: an operator
// records that an update was installed by hand.
type MarkInstalledRequest struct {
	Update string `json:"update"`
	Note   string `json:"note,omitempty"`
}

// The OpenAPI summaries of the window and manual-install routes live here,
// next to their bodies.
func init() {
	for k, d := range map[string]doc{
		"GET /api/v1/windows":               {summary: "List maintenance windows with whether each is open now", response: []WindowInfo{}},
		"PUT /api/v1/windows/{group}":       {summary: "Set (or replace) the maintenance window of a group", request: SetWindowRequest{}, response: WindowInfo{}},
		"DELETE /api/v1/windows/{group}":    {summary: "Remove the maintenance window of a group: its hosts install at any time"},
		"GET /api/v1/windows/{group}/next":  {summary: "The next openings of a group's window", query: []string{"count"}, response: WindowNext{}},
		"POST /api/v1/hosts/{id}/installed": {summary: "Record a manual install on a manual host (audited)", request: MarkInstalledRequest{}, response: patchgate.Event{}},
	} {
		docs[k] = d
	}
}

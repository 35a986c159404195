package adminapi

import "github.com/patchgate/patchgate"

// SetOwnerRequest is PUT /api/v1/hosts/{id}/owner and PUT
// /api/v1/groups/{name}/owner: the address told when a manual host needs
// installs by hand; "" removes the owner.
type SetOwnerRequest struct {
	Address string `json:"address"`
}

// SendReportResponse is POST /api/v1/reports/status/send: the
// report.status event appended, and how many subscriptions will be mailed.
type SendReportResponse struct {
	EventID    string `json:"event_id"`
	Recipients int    `json:"recipients"`
}

func init() {
	for k, d := range map[string]doc{
		"GET /api/v1/owners":               {summary: "List host and group owners (told when a manual host needs installs by hand)", response: []patchgate.Owner{}},
		"PUT /api/v1/hosts/{id}/owner":     {summary: "Set (or, with an empty address, remove) a host's owner; it wins over its groups' owners", request: SetOwnerRequest{}, response: patchgate.Owner{}},
		"PUT /api/v1/groups/{name}/owner":  {summary: "Set (or, with an empty address, remove) a group's owner", request: SetOwnerRequest{}, response: patchgate.Owner{}},
		"GET /api/v1/reports/status":       {summary: "The status report now: compliance per group, overdue updates, failures, compliance history", response: patchgate.StatusReport{}},
		"POST /api/v1/reports/status/send": {summary: "Mail the status report now to every subscription with reports", response: SendReportResponse{}},
	} {
		docs[k] = d
	}
}

package storetest

import (
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

func newAdvisory(id string, current time.Time) patchgate.Advisory {
	return patchgate.Advisory{
		ID:                 id,
		Title:              "Remote code execution in " + id,
		Publisher:          "Cisco",
		Category:           "csaf_security_advisory",
		Status:             "final",
		Version:            "1.0.0",
		InitialReleaseDate: t0.Add(-72 * time.Hour).In(elsewhere),
		CurrentReleaseDate: current,
		Severity:           patchgate.SeverityCritical,
		CVEs:               []patchgate.AdvisoryCVE{{ID: "CVE-2025-0001", CVSSScore: 9.8, CVSSVector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", Severity: patchgate.SeverityCritical}},
		Affected:           []patchgate.AdvisoryProduct{{Product: "cisco.ucce", Versions: "=7.2(1)", CVEs: []string{"CVE-2025-0001"}, CSAFProduct: "UCCE 7.2(1)"}},
		Fixed:              []patchgate.AdvisoryProduct{{Product: "cisco.ucce", Versions: "=7.2(2)", CVEs: []string{"CVE-2025-0001"}}},
		Remediations: []patchgate.Remediation{{Category: "vendor_fix", Details: "Install HF-1", URL: "https://example.com/hf-1",
			CVEs: []string{"CVE-2025-0001"}, Products: []string{"cisco.ucce 7.2(1)"}, UpdateIDs: []string{"HF-1"}}},
		Unmapped:   []patchgate.UnmappedProduct{{ProductID: "P9", Name: "Something else", Reason: "no CPE or PURL"}},
		Digest:     "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		ImportedBy: "token:publisher",
		Updates:    []string{"HF-1"},
	}
}

func testAdvisories(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	_, err := s.GetAdvisory(ctx, "cisco-sa-1")
	wantNotFound(t, err, "GetAdvisory before import")

	a := newAdvisory("cisco-sa-1", t0.Add(-time.Hour))
	ev := newEvent("")
	got, outcome, err := s.PutAdvisory(ctx, a, ev)
	must(t, err, "PutAdvisory")
	if outcome != patchgate.AdvisoryImported || got.Revision != 1 {
		t.Fatalf("first import: %s revision %d", outcome, got.Revision)
	}
	want := a
	want.Revision, want.ImportedAt = 1, ev.Time
	same(t, "PutAdvisory result", got, want)
	back, err := s.GetAdvisory(ctx, a.ID)
	must(t, err, "GetAdvisory")
	same(t, "GetAdvisory", back, want)
	if e := findEvent(t, s, ev.ID); e.Type != patchgate.EventAdvisoryImported || e.Detail != ev.Detail {
		t.Errorf("import event %+v", e)
	}

	// The same current_release_date: unchanged, nothing appended.
	again := a
	again.Title = "changed words, same date"
	ev2 := newEvent("")
	got, outcome, err = s.PutAdvisory(ctx, again, ev2)
	must(t, err, "PutAdvisory same date")
	if outcome != patchgate.AdvisoryUnchanged || got.Title != a.Title || got.Revision != 1 {
		t.Errorf("same date: %s %q revision %d", outcome, got.Title, got.Revision)
	}
	if hasEvent(allEvents(t, s), ev2.ID) {
		t.Errorf("an unchanged import appended an event")
	}

	// A later date: a new revision replaces the old one.
	rev := a
	rev.CurrentReleaseDate = t0
	rev.Version = "1.1.0"
	rev.CVEs = append(rev.CVEs, patchgate.AdvisoryCVE{ID: "CVE-2025-0002", CVSSScore: 5})
	ev3 := newEvent("")
	got, outcome, err = s.PutAdvisory(ctx, rev, ev3)
	must(t, err, "PutAdvisory revision")
	if outcome != patchgate.AdvisoryUpdated || got.Revision != 2 || got.Version != "1.1.0" {
		t.Errorf("revision: %s revision %d version %s", outcome, got.Revision, got.Version)
	}
	if e := findEvent(t, s, ev3.ID); e.Type != patchgate.EventAdvisoryUpdated {
		t.Errorf("update event type %s", e.Type)
	}

	// An older date: refused, the newer revision stays.
	ev4 := newEvent("")
	_, outcome, err = s.PutAdvisory(ctx, a, ev4)
	wantCode(t, err, patchgate.CodeConflict, "PutAdvisory older")
	if outcome != patchgate.AdvisoryRejected {
		t.Errorf("older: outcome %s", outcome)
	}
	if hasEvent(allEvents(t, s), ev4.ID) {
		t.Errorf("a refused import appended an event")
	}
	back, err = s.GetAdvisory(ctx, a.ID)
	must(t, err, "GetAdvisory after refusal")
	if back.Revision != 2 || len(back.CVEs) != 2 {
		t.Errorf("after refusal: revision %d cves %v", back.Revision, back.CVEs)
	}

	_, _, err = s.PutAdvisory(ctx, patchgate.Advisory{ID: "bad id/x"}, newEvent(""))
	wantCode(t, err, patchgate.CodeInvalid, "PutAdvisory bad id")

	// Listing: newest current_release_date first; --cve narrows.
	other := newAdvisory("RHSA-2025:0001", t0.Add(time.Hour))
	other.CVEs = []patchgate.AdvisoryCVE{{ID: "CVE-2025-0002"}}
	_, _, err = s.PutAdvisory(ctx, other, newEvent(""))
	must(t, err, "PutAdvisory other")
	third := newAdvisory("SSA-000001", t0.Add(-24*time.Hour))
	third.CVEs = []patchgate.AdvisoryCVE{{ID: "CVE-2025-0003"}}
	_, _, err = s.PutAdvisory(ctx, third, newEvent(""))
	must(t, err, "PutAdvisory third")
	for _, tc := range []struct {
		cve  string
		want []string
	}{
		{"", []string{"RHSA-2025:0001", "cisco-sa-1", "SSA-000001"}},
		{"CVE-2025-0002", []string{"RHSA-2025:0001", "cisco-sa-1"}},
		{"CVE-2025-0001", []string{"cisco-sa-1"}},
		{"CVE-2025-0003", []string{"SSA-000001"}},
		{"CVE-2025-9999", []string{}},
	} {
		as, err := s.ListAdvisories(ctx, patchgate.AdvisoryFilter{CVE: tc.cve})
		must(t, err, "ListAdvisories")
		ids := []string{}
		for _, a := range as {
			ids = append(ids, a.ID)
		}
		same(t, "ListAdvisories "+tc.cve, ids, tc.want)
	}
}

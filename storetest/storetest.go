// Package storetest is the conformance suite of patchgate.Store: every store
// adapter (sqlite, postgres) runs it, so that the server behaves the same on
// either and a behaviour the domain relies on is written down once, as a
// test, rather than in each adapter's head.
//
// It imports only the domain package and the standard library. Times in the
// suite have microsecond precision, the finest both adapters keep, and are
// compared with time.Time.Equal, so a store may return them in any location.
package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

// Run runs the suite. open must return a new, empty store for each subtest;
// Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) patchgate.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s patchgate.Store)
	}{
		{"PutUpdateRevisions", testPutUpdateRevisions},
		{"PutUpdateRoundTrip", testPutUpdateRoundTrip},
		{"ListUpdates", testListUpdates},
		{"Enroll", testEnroll},
		{"EnrollRefused", testEnrollRefused},
		{"EnrollDuplicateHost", testEnrollDuplicateHost},
		{"EnrollConcurrent", testEnrollConcurrent},
		{"EnrollMany", testEnrollMany},
		{"EnrollTokenMode", testEnrollTokenMode},
		{"HostCredential", testHostCredential},
		{"SaveInventory", testSaveInventory},
		{"SaveInventories", testSaveInventories},
		{"TouchCheckins", testTouchCheckins},
		{"ListHosts", testListHosts},
		{"Groups", testGroups},
		{"GroupMembership", testGroupMembership},
		{"GroupAllProtected", testGroupAllProtected},
		{"Tokens", testTokens},
		{"Approvals", testApprovals},
		{"ApprovalsRefused", testApprovalsRefused},
		{"DeploymentEvents", testDeploymentEvents},
		{"DeploymentEventsOutOfOrder", testDeploymentEventsOutOfOrder},
		{"DeploymentEventsPerHostIDs", testDeploymentEventsPerHostIDs},
		{"DeploymentEventGroups", testDeploymentEventGroups},
		{"ListEvents", testListEvents},
		{"ListEventsNewest", testListEventsNewest},
		{"AppendEvent", testAppendEvent},
		{"PruneEvents", testPruneEvents},
		{"AdminEvents", testAdminEvents},
		{"FailedAdminActionsAppendNothing", testFailedAdminActions},
		{"Subscriptions", testSubscriptions},
		{"Outbox", testOutbox},
		{"Windows", testWindows},
		{"WindowsRefused", testWindowsRefused},
		{"ApprovalsEmergency", testApprovalsEmergency},
		{"RolloutPolicies", testRolloutPolicies},
		{"RolloutStarts", testRolloutStarts},
		{"RolloutConcurrentStarts", testRolloutConcurrentStarts},
		{"ReleaseStates", testReleaseStates},
		{"TestGroups", testTestGroups},
		{"SLAPolicy", testSLAPolicy},
		{"SLAEventsOnce", testSLAEventsOnce},
		{"TestGroupMinSuccess", testTestGroupMinSuccess},
		{"Advisories", testAdvisories},
		{"Owners", testOwners},
		{"ComplianceSnapshots", testComplianceSnapshots},
		{"OutboxStreams", testOutboxStreams},
		{"FlushDigests", testFlushDigests},
		{"Rules", testRules},
		{"RuleApprovals", testRuleApprovals},
		{"RolloutFailedHostRetries", testRolloutFailedHostRetries},
		{"GroupTree", testGroupTree},
		{"ServerID", testServerID},
		{"FeedChanges", testFeedChanges},
		{"DownstreamChains", testDownstreamChains},
		{"Upstreams", testUpstreams},
		{"ApplySync", testApplySync},
		{"SyncRuns", testSyncRuns},
		{"SiteCompliance", testSiteCompliance},
		{"DeleteUpdates", testDeleteUpdates},
		{"ApplyReplicaPolicy", testApplyReplicaPolicy},
		{"RecentInstalls", testRecentInstalls},
		{"UpdateOrigins", testUpdateOrigins},
		{"UpdateRepos", testUpdateRepos},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// t0 is the suite's "now": microsecond precision, not a round number.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

// elsewhere is a zone with an odd offset, to catch stores that keep a
// wall-clock time and lose its zone. Fixed, so no tzdata is needed.
var elsewhere = time.FixedZone("UTC+05:45", 5*3600+45*60)

var evCounter atomic.Int64

// newEvent returns an admin event with an ID unique in the process.
func newEvent(typ string) patchgate.Event {
	n := evCounter.Add(1)
	return patchgate.Event{
		ID:     fmt.Sprintf("storetest-%d", n),
		Time:   t0.Add(time.Duration(n) * time.Microsecond),
		Type:   typ,
		Actor:  "storetest",
		Detail: fmt.Sprintf("event %d", n),
	}
}

func newUpdate(id string) patchgate.Update {
	return patchgate.Update{
		ID:          id,
		Title:       "Fix for " + id,
		Description: "Fixes a crash when the moon is full.",
		Kind:        patchgate.KindHotfix,
		Severity:    patchgate.SeverityHigh,
		Products: []patchgate.ProductConstraint{
			{Name: "cisco.ucce", Versions: ">=7.2(1), <8.0"},
			{Name: "openssl"},
		},
		CVEs:        []string{"CVE-2025-0001", "CVE-2025-0002"},
		ReleaseDate: t0.Add(-48 * time.Hour),
		Supersedes:  []string{"OLD-1"},
		Requires:    []string{"SR-7"},
		Reboot:      patchgate.RebootMay,
		Payloads: []patchgate.Payload{{
			Name:      id + ".sh",
			Size:      1234,
			SHA256:    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			Installer: patchgate.InstallerExec,
			Args:      []string{"--quiet", "--no-restart"},
		}},
		CreatedBy: "publisher",
	}
}

func newInventory(hostname string) patchgate.Inventory {
	return patchgate.Inventory{
		Hostname: hostname,
		OS:       "linux",
		Arch:     "amd64",
		Mode:     patchgate.ModeAutomatic,
		Products: []patchgate.InstalledProduct{
			{Name: "cisco.ucce", Version: "7.2(1)"},
			{Name: "openssl", Version: "3.0.2-0ubuntu1.10"},
		},
		Installed:     []string{"HF-1", "HF-2"},
		RebootPending: []string{"HF-2"},
		Agent:         "1.0.0",
		Interval:      15 * time.Minute,
	}
}

// newEnrollToken creates an enrolment token for group with uses uses
// (0 = unlimited).
func newEnrollToken(t *testing.T, s patchgate.Store, id, group string, uses int) patchgate.Token {
	t.Helper()
	tok := patchgate.Token{
		ID:         id,
		Kind:       patchgate.TokenEnroll,
		Name:       "enrol " + id,
		Group:      group,
		SecretHash: []byte("hash of " + id),
		CreatedAt:  t0,
		CreatedBy:  "storetest",
	}
	if uses > 0 {
		tok.UsesLeft = &uses
	}
	if err := s.CreateToken(t.Context(), tok, newEvent(patchgate.EventTokenCreated)); err != nil {
		t.Fatalf("CreateToken(%s): %v", id, err)
	}
	return tok
}

// enroll enrols a host with a fresh one-use token for group ("" = only all).
func enroll(t *testing.T, s patchgate.Store, hostID, group string) patchgate.Host {
	t.Helper()
	newEnrollToken(t, s, "tok-"+hostID, group, 1)
	h, err := s.Enroll(t.Context(), "tok-"+hostID, t0, patchgate.Host{ID: hostID, Inventory: newInventory(hostID + ".example.com")},
		[]byte("cred-"+hostID), newEvent(patchgate.EventHostEnrolled))
	if err != nil {
		t.Fatalf("Enroll(%s): %v", hostID, err)
	}
	return h
}

func putUpdate(t *testing.T, s patchgate.Store, u patchgate.Update) patchgate.Update {
	t.Helper()
	stored, _, err := s.PutUpdate(t.Context(), u, newEvent(patchgate.EventUpdateAdded))
	if err != nil {
		t.Fatalf("PutUpdate(%s): %v", u.ID, err)
	}
	return stored
}

func createGroup(t *testing.T, s patchgate.Store, name string) {
	t.Helper()
	g := patchgate.Group{Name: name, Description: "group " + name, CreatedAt: t0}
	if err := s.CreateGroup(t.Context(), g, newEvent(patchgate.EventGroupChanged)); err != nil {
		t.Fatalf("CreateGroup(%s): %v", name, err)
	}
}

// wantCode fails unless err has the given code.
func wantCode(t *testing.T, err error, code patchgate.Code, what string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want code %s", what, code)
		return
	}
	var pe *patchgate.Error
	if !errors.As(err, &pe) {
		t.Errorf("%s: got %T %v, want a *patchgate.Error with code %s", what, err, err, code)
		return
	}
	if pe.Code != code {
		t.Errorf("%s: got code %s (%v), want %s", what, pe.Code, err, code)
	}
}

func wantNotFound(t *testing.T, err error, what string) {
	t.Helper()
	if !patchgate.IsNotFound(err) {
		t.Errorf("%s: got %v, want a not_found error", what, err)
	}
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// utc returns a copy of v, whose type is one of the domain's, with every
// time.Time in UTC and every nil slice empty, so that reflect.DeepEqual
// compares instants and contents rather than locations and nil-ness.
func utc[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	normalize(rv)
	return v
}

var timeType = reflect.TypeFor[time.Time]()

func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			t := v.Interface().(time.Time)
			if !t.IsZero() {
				v.Set(reflect.ValueOf(t.UTC()))
			} else {
				v.Set(reflect.ValueOf(time.Time{}))
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				normalize(v.Field(i))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			c := reflect.New(v.Type().Elem())
			c.Elem().Set(v.Elem())
			normalize(c.Elem())
			v.Set(c)
		}
	case reflect.Slice:
		if v.IsNil() {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		for i := range c.Len() {
			normalize(c.Index(i))
		}
		v.Set(c)
	case reflect.Map:
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
			return
		}
		c := reflect.MakeMap(v.Type())
		iter := v.MapRange()
		for iter.Next() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(iter.Value())
			normalize(e)
			c.SetMapIndex(iter.Key(), e)
		}
		v.Set(c)
	}
}

// same fails unless got and want are equal up to time locations and nil
// versus empty slices.
func same[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !equal(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, utc(got), utc(want))
	}
}

func equal[T any](a, b T) bool { return reflect.DeepEqual(utc(a), utc(b)) }

// eventsOfType lists every event of type typ.
func eventsOfType(t *testing.T, s patchgate.Store, typ string) []patchgate.Event {
	t.Helper()
	evs, err := s.ListEvents(t.Context(), patchgate.EventFilter{Type: typ, Limit: 1000})
	must(t, err, "ListEvents")
	return evs
}

// findEvent returns the stored event with id, failing if there is none.
func findEvent(t *testing.T, s patchgate.Store, id string) patchgate.Event {
	t.Helper()
	evs, err := s.ListEvents(t.Context(), patchgate.EventFilter{Limit: 1000})
	must(t, err, "ListEvents")
	for _, ev := range evs {
		if ev.ID == id {
			return ev
		}
	}
	t.Fatalf("event %s is not in the log", id)
	return patchgate.Event{}
}

// allEvents returns the whole log (up to 1000 events).
func allEvents(t *testing.T, s patchgate.Store) []patchgate.Event {
	t.Helper()
	evs, err := s.ListEvents(t.Context(), patchgate.EventFilter{Limit: 1000})
	must(t, err, "ListEvents")
	return evs
}

func hasEvent(evs []patchgate.Event, id string) bool {
	return slices.ContainsFunc(evs, func(ev patchgate.Event) bool { return ev.ID == id })
}

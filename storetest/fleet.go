package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

func testEnroll(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	newEnrollToken(t, s, "tok-web", "web", 2)

	h := patchgate.Host{ID: "h1", Inventory: newInventory("h1.example.com"), InventoryDigest: "digest-1"}
	ev := newEvent(patchgate.EventHostEnrolled)
	got, err := s.Enroll(ctx, "tok-web", t0, h, []byte("cred-h1"), ev)
	must(t, err, "Enroll")

	want := h
	want.Groups = []string{patchgate.GroupAll, "web"}
	want.EnrolledAt = t0
	want.LastCheckin = got.LastCheckin // the store may or may not count enrolment as a check-in
	same(t, "Enroll result", got, want)
	stored, err := s.GetHost(ctx, "h1")
	must(t, err, "GetHost")
	same(t, "GetHost after Enroll", stored, want)

	tok, err := s.GetToken(ctx, "tok-web")
	must(t, err, "GetToken")
	if tok.UsesLeft == nil || *tok.UsesLeft != 1 {
		t.Errorf("after one enrolment UsesLeft = %v, want 1", tok.UsesLeft)
	}
	groups, err := s.ListGroups(ctx)
	must(t, err, "ListGroups")
	found := false
	for _, g := range groups {
		if g.Name == "web" {
			found = true
			if g.Hosts != 1 {
				t.Errorf("group web has %d hosts, want 1", g.Hosts)
			}
		}
	}
	if !found {
		t.Errorf("enrolment did not create the token's group: %+v", groups)
	}
	if e := findEvent(t, s, ev.ID); e.Type != patchgate.EventHostEnrolled || e.HostID != "h1" {
		t.Errorf("enrolment event: type %q host %q, want %q, h1", e.Type, e.HostID, patchgate.EventHostEnrolled)
	}

	_, err = s.Enroll(ctx, "tok-web", t0, patchgate.Host{ID: "h2", Inventory: newInventory("h2")}, []byte("cred-h2"), newEvent(patchgate.EventHostEnrolled))
	must(t, err, "second Enroll")
	tok, err = s.GetToken(ctx, "tok-web")
	must(t, err, "GetToken")
	if tok.UsesLeft == nil || *tok.UsesLeft != 0 {
		t.Errorf("after two enrolments UsesLeft = %v, want 0", tok.UsesLeft)
	}
	_, err = s.Enroll(ctx, "tok-web", t0, patchgate.Host{ID: "h3", Inventory: newInventory("h3")}, []byte("cred-h3"), newEvent(patchgate.EventHostEnrolled))
	wantCode(t, err, patchgate.CodeUnauthorized, "Enroll with a used-up token")

	// A token without a group puts hosts only in all; one without a use
	// limit never runs out.
	newEnrollToken(t, s, "tok-any", "", 0)
	for i := range 3 {
		id := fmt.Sprintf("any-%d", i)
		got, err := s.Enroll(ctx, "tok-any", t0, patchgate.Host{ID: id, Inventory: newInventory(id)}, []byte("c"), newEvent(patchgate.EventHostEnrolled))
		must(t, err, "Enroll with an unlimited token")
		same(t, "groups of a host enrolled without a group", got.Groups, []string{patchgate.GroupAll})
	}
	tok, err = s.GetToken(ctx, "tok-any")
	must(t, err, "GetToken")
	if tok.UsesLeft != nil {
		t.Errorf("an unlimited token got UsesLeft = %d", *tok.UsesLeft)
	}

	// The token's group may already exist.
	createGroup(t, s, "db")
	newEnrollToken(t, s, "tok-db", "db", 1)
	got, err = s.Enroll(ctx, "tok-db", t0, patchgate.Host{ID: "db1", Inventory: newInventory("db1")}, []byte("c"), newEvent(patchgate.EventHostEnrolled))
	must(t, err, "Enroll into an existing group")
	same(t, "groups", got.Groups, []string{patchgate.GroupAll, "db"})
}

func testEnrollRefused(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	past, future := t0.Add(-time.Second), t0.Add(time.Hour)

	expired := patchgate.Token{ID: "expired", Kind: patchgate.TokenEnroll, ExpiresAt: &past, SecretHash: []byte("x"), CreatedAt: t0}
	valid := patchgate.Token{ID: "valid", Kind: patchgate.TokenEnroll, ExpiresAt: &future, SecretHash: []byte("x"), CreatedAt: t0}
	revoked := patchgate.Token{ID: "revoked", Kind: patchgate.TokenEnroll, SecretHash: []byte("x"), CreatedAt: t0}
	zero := 0
	exhausted := patchgate.Token{ID: "exhausted", Kind: patchgate.TokenEnroll, UsesLeft: &zero, SecretHash: []byte("x"), CreatedAt: t0}
	api := patchgate.Token{ID: "api", Kind: patchgate.TokenAPI, Role: patchgate.RoleAdmin, SecretHash: []byte("x"), CreatedAt: t0}
	for _, tok := range []patchgate.Token{expired, valid, revoked, exhausted, api} {
		must(t, s.CreateToken(ctx, tok, newEvent(patchgate.EventTokenCreated)), "CreateToken "+tok.ID)
	}
	must(t, s.RevokeToken(ctx, "revoked", newEvent(patchgate.EventTokenRevoked)), "RevokeToken")

	before := len(allEvents(t, s))
	for _, id := range []string{"expired", "revoked", "exhausted", "api", "unknown"} {
		_, err := s.Enroll(ctx, id, t0, patchgate.Host{ID: "h-" + id, Inventory: newInventory("x")}, []byte("c"), newEvent(patchgate.EventHostEnrolled))
		wantCode(t, err, patchgate.CodeUnauthorized, "Enroll with token "+id)
		_, err = s.GetHost(ctx, "h-"+id)
		wantNotFound(t, err, "GetHost of a refused host")
	}
	if after := len(allEvents(t, s)); after != before {
		t.Errorf("refused enrolments appended %d events", after-before)
	}
	// The expiry is compared with the now the caller passes, not the clock.
	_, err := s.Enroll(ctx, "valid", future.Add(-time.Microsecond), patchgate.Host{ID: "h-valid", Inventory: newInventory("x")}, []byte("c"), newEvent(patchgate.EventHostEnrolled))
	must(t, err, "Enroll just before expiry")
	_, err = s.Enroll(ctx, "valid", future, patchgate.Host{ID: "h-late", Inventory: newInventory("x")}, []byte("c"), newEvent(patchgate.EventHostEnrolled))
	wantCode(t, err, patchgate.CodeUnauthorized, "Enroll at the expiry")
}

func testEnrollDuplicateHost(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	enroll(t, s, "h1", "")
	newEnrollToken(t, s, "again", "web", 1)
	ev := newEvent(patchgate.EventHostEnrolled)
	_, err := s.Enroll(ctx, "again", t0, patchgate.Host{ID: "h1", Inventory: newInventory("other")}, []byte("other"), ev)
	wantCode(t, err, patchgate.CodeConflict, "Enroll of an enrolled host ID")

	// Nothing of the failed enrolment remains: not the token use, not the
	// event, not the credential.
	tok, err := s.GetToken(ctx, "again")
	must(t, err, "GetToken")
	if tok.UsesLeft == nil || *tok.UsesLeft != 1 {
		t.Errorf("a failed enrolment consumed a token use: UsesLeft = %v", tok.UsesLeft)
	}
	if hasEvent(allEvents(t, s), ev.ID) {
		t.Error("a failed enrolment appended its event")
	}
	cred, err := s.HostCredential(ctx, "h1")
	must(t, err, "HostCredential")
	if string(cred) != "cred-h1" {
		t.Errorf("a failed enrolment replaced the credential: %q", cred)
	}
}

func testEnrollConcurrent(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	newEnrollToken(t, s, "once", "race", 1)
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			id := fmt.Sprintf("racer-%d", i)
			_, errs[i] = s.Enroll(ctx, "once", t0, patchgate.Host{ID: id, Inventory: newInventory(id)}, []byte("c"), newEvent(patchgate.EventHostEnrolled))
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantCode(t, err, patchgate.CodeUnauthorized, fmt.Sprintf("racer %d", i))
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent enrolments with a one-use token succeeded, want 1", ok, n)
	}
	hosts, err := s.ListHosts(ctx)
	must(t, err, "ListHosts")
	if len(hosts) != 1 {
		t.Errorf("%d hosts enrolled, want 1", len(hosts))
	}
	tok, err := s.GetToken(ctx, "once")
	must(t, err, "GetToken")
	if tok.UsesLeft == nil || *tok.UsesLeft != 0 {
		t.Errorf("UsesLeft = %v, want 0", tok.UsesLeft)
	}
}

func testEnrollTokenMode(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	tok := patchgate.Token{ID: "appliance", Kind: patchgate.TokenEnroll, Mode: patchgate.ModeManual, SecretHash: []byte("x"), CreatedAt: t0}
	must(t, s.CreateToken(ctx, tok, newEvent(patchgate.EventTokenCreated)), "CreateToken")
	h := patchgate.Host{ID: "vos1", Inventory: newInventory("vos1")}
	h.Mode = patchgate.ModeAutomatic
	got, err := s.Enroll(ctx, "appliance", t0, h, []byte("c"), newEvent(patchgate.EventHostEnrolled))
	must(t, err, "Enroll")
	if got.Mode != patchgate.ModeManual {
		t.Errorf("host enrolled with a manual token has mode %q", got.Mode)
	}
	stored, err := s.GetHost(ctx, "vos1")
	must(t, err, "GetHost")
	if stored.Mode != patchgate.ModeManual {
		t.Errorf("stored host enrolled with a manual token has mode %q", stored.Mode)
	}

	// Without a token mode, the agent's stands.
	newEnrollToken(t, s, "plain", "", 1)
	h = patchgate.Host{ID: "m1", Inventory: newInventory("m1")}
	h.Mode = patchgate.ModeManual
	got, err = s.Enroll(ctx, "plain", t0, h, []byte("c"), newEvent(patchgate.EventHostEnrolled))
	must(t, err, "Enroll")
	if got.Mode != patchgate.ModeManual {
		t.Errorf("host reporting manual mode enrolled as %q", got.Mode)
	}
}

func testHostCredential(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	enroll(t, s, "h1", "")
	enroll(t, s, "h2", "")
	for _, id := range []string{"h1", "h2"} {
		got, err := s.HostCredential(ctx, id)
		must(t, err, "HostCredential")
		if !bytes.Equal(got, []byte("cred-"+id)) {
			t.Errorf("HostCredential(%s) = %q, want %q", id, got, "cred-"+id)
		}
	}
	_, err := s.HostCredential(ctx, "nobody")
	wantNotFound(t, err, "HostCredential of an unknown host")
	_, err = s.GetHost(ctx, "nobody")
	wantNotFound(t, err, "GetHost of an unknown host")
}

func testSaveInventory(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	enrolled := enroll(t, s, "h1", "web")

	inv := patchgate.Inventory{
		Hostname:      "h1.new.example.com",
		OS:            "windows",
		Arch:          "arm64",
		Mode:          patchgate.ModeManual,
		Products:      []patchgate.InstalledProduct{{Name: "cisco.ucce", Version: "12.0(1)"}, {Name: "sql.server", Version: "2019"}, {Name: "zlib", Version: "1:1.2.13-1"}},
		Installed:     []string{"HF-9", "SR-3", "HF-10"},
		RebootPending: []string{"HF-10"},
		Agent:         "1.2.3",
		Interval:      90 * time.Second,
	}
	at := t0.Add(time.Hour).In(elsewhere)
	must(t, s.SaveInventory(ctx, "h1", inv, "digest-2", at), "SaveInventory")
	got, err := s.GetHost(ctx, "h1")
	must(t, err, "GetHost")
	want := patchgate.Host{
		ID:              "h1",
		Inventory:       inv,
		Groups:          []string{patchgate.GroupAll, "web"},
		EnrolledAt:      enrolled.EnrolledAt,
		LastCheckin:     at,
		InventoryDigest: "digest-2",
	}
	same(t, "GetHost after SaveInventory", got, want)

	// An inventory that lost its lists stores them empty.
	empty := patchgate.Inventory{Hostname: "h1", Mode: patchgate.ModeAutomatic}
	must(t, s.SaveInventory(ctx, "h1", empty, "digest-3", at.Add(time.Minute)), "SaveInventory empty")
	got, err = s.GetHost(ctx, "h1")
	must(t, err, "GetHost")
	if len(got.Products) != 0 || len(got.Installed) != 0 || len(got.RebootPending) != 0 || got.Interval != 0 {
		t.Errorf("after an empty inventory: %+v", got.Inventory)
	}
	if got.InventoryDigest != "digest-3" || !got.LastCheckin.Equal(at.Add(time.Minute)) {
		t.Errorf("digest %q checkin %v, want digest-3, %v", got.InventoryDigest, got.LastCheckin, at.Add(time.Minute))
	}

	err = s.SaveInventory(ctx, "nobody", inv, "d", at)
	wantNotFound(t, err, "SaveInventory of an unknown host")
}

func testTouchCheckins(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	for _, id := range []string{"h1", "h2", "h3"} {
		enroll(t, s, id, "")
	}
	t1, t2 := t0.Add(10*time.Minute), t0.Add(20*time.Minute).In(elsewhere)
	must(t, s.TouchCheckins(ctx, map[string]time.Time{"h1": t1, "h2": t2, "gone": t2}), "TouchCheckins")
	must(t, s.TouchCheckins(ctx, nil), "TouchCheckins of nothing")
	// A late flush of an older batch does not move a check-in back.
	must(t, s.TouchCheckins(ctx, map[string]time.Time{"h1": t0.Add(time.Minute)}), "TouchCheckins older")

	hosts, err := s.ListHosts(ctx)
	must(t, err, "ListHosts")
	got := map[string]time.Time{}
	for _, h := range hosts {
		got[h.ID] = h.LastCheckin
	}
	if !got["h1"].Equal(t1) || !got["h2"].Equal(t2) {
		t.Errorf("check-ins h1=%v h2=%v, want %v, %v", got["h1"], got["h2"], t1, t2)
	}
	if got["h3"].After(t0) {
		t.Errorf("h3 was not touched but checked in at %v", got["h3"])
	}
	if _, ok := got["gone"]; ok {
		t.Error("TouchCheckins created a host")
	}
}

func testListHosts(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	hosts, err := s.ListHosts(ctx)
	must(t, err, "ListHosts")
	if len(hosts) != 0 {
		t.Errorf("a new store has %d hosts", len(hosts))
	}
	want := []patchgate.Host{enroll(t, s, "h2", "web"), enroll(t, s, "h1", ""), enroll(t, s, "h3", "db")}
	want[0], want[1] = want[1], want[0]
	hosts, err = s.ListHosts(ctx)
	must(t, err, "ListHosts")
	same(t, "ListHosts", hosts, want)
}

func groupsByName(t *testing.T, s patchgate.Store) map[string]patchgate.Group {
	t.Helper()
	gs, err := s.ListGroups(t.Context())
	must(t, err, "ListGroups")
	m := map[string]patchgate.Group{}
	for i, g := range gs {
		if i > 0 && gs[i-1].Name >= g.Name {
			t.Errorf("ListGroups is not ordered by name: %q before %q", gs[i-1].Name, g.Name)
		}
		m[g.Name] = g
	}
	return m
}

func testGroups(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	gs := groupsByName(t, s)
	if _, ok := gs[patchgate.GroupAll]; !ok || len(gs) != 1 {
		t.Errorf("a new store's groups: %+v, want only %q", gs, patchgate.GroupAll)
	}

	g := patchgate.Group{Name: "web", Description: "web servers", CreatedAt: t0.In(elsewhere)}
	must(t, s.CreateGroup(ctx, g, newEvent(patchgate.EventGroupChanged)), "CreateGroup")
	createGroup(t, s, "db")
	err := s.CreateGroup(ctx, patchgate.Group{Name: "web"}, newEvent(patchgate.EventGroupChanged))
	wantCode(t, err, patchgate.CodeConflict, "CreateGroup of an existing name")
	err = s.CreateGroup(ctx, patchgate.Group{Name: patchgate.GroupAll}, newEvent(patchgate.EventGroupChanged))
	wantCode(t, err, patchgate.CodeConflict, "CreateGroup all")

	gs = groupsByName(t, s)
	same(t, "group web", gs["web"], patchgate.Group{Name: "web", Description: "web servers", CreatedAt: t0})
	if len(gs) != 3 {
		t.Errorf("%d groups, want 3: %+v", len(gs), gs)
	}

	must(t, s.DeleteGroup(ctx, "db", newEvent(patchgate.EventGroupChanged)), "DeleteGroup")
	if _, ok := groupsByName(t, s)["db"]; ok {
		t.Error("DeleteGroup left the group")
	}
	err = s.DeleteGroup(ctx, "db", newEvent(patchgate.EventGroupChanged))
	wantNotFound(t, err, "DeleteGroup of a deleted group")
	// The name is free again.
	createGroup(t, s, "db")
}

func testGroupMembership(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	enroll(t, s, "h1", "web")
	enroll(t, s, "h2", "")
	enroll(t, s, "h3", "")
	createGroup(t, s, "db")
	createGroup(t, s, "canary")

	must(t, s.AddToGroup(ctx, "db", []string{"h1", "h2"}, newEvent(patchgate.EventGroupChanged)), "AddToGroup db")
	must(t, s.AddToGroup(ctx, "canary", []string{"h1"}, newEvent(patchgate.EventGroupChanged)), "AddToGroup canary")
	// Adding a member again is no change and no error.
	must(t, s.AddToGroup(ctx, "db", []string{"h1"}, newEvent(patchgate.EventGroupChanged)), "AddToGroup again")

	h1, err := s.GetHost(ctx, "h1")
	must(t, err, "GetHost")
	same(t, "groups of h1", h1.Groups, []string{patchgate.GroupAll, "canary", "db", "web"})
	m, err := s.Memberships(ctx)
	must(t, err, "Memberships")
	same(t, "Memberships", m, map[string][]string{
		"h1": {patchgate.GroupAll, "canary", "db", "web"},
		"h2": {patchgate.GroupAll, "db"},
		"h3": {patchgate.GroupAll},
	})
	gs := groupsByName(t, s)
	for name, n := range map[string]int{patchgate.GroupAll: 3, "db": 2, "canary": 1, "web": 1} {
		if gs[name].Hosts != n {
			t.Errorf("group %s has %d hosts, want %d", name, gs[name].Hosts, n)
		}
	}

	// One unknown host refuses the whole batch.
	err = s.AddToGroup(ctx, "canary", []string{"h2", "nobody"}, newEvent(patchgate.EventGroupChanged))
	wantNotFound(t, err, "AddToGroup with an unknown host")
	err = s.AddToGroup(ctx, "nogroup", []string{"h2"}, newEvent(patchgate.EventGroupChanged))
	wantNotFound(t, err, "AddToGroup to an unknown group")
	h2, err := s.GetHost(ctx, "h2")
	must(t, err, "GetHost")
	same(t, "groups of h2 after refused adds", h2.Groups, []string{patchgate.GroupAll, "db"})

	must(t, s.RemoveFromGroup(ctx, "db", []string{"h1", "h3"}, newEvent(patchgate.EventGroupChanged)), "RemoveFromGroup")
	err = s.RemoveFromGroup(ctx, "nogroup", []string{"h1"}, newEvent(patchgate.EventGroupChanged))
	wantNotFound(t, err, "RemoveFromGroup of an unknown group")
	m, err = s.Memberships(ctx)
	must(t, err, "Memberships")
	same(t, "Memberships after remove", m, map[string][]string{
		"h1": {patchgate.GroupAll, "canary", "web"},
		"h2": {patchgate.GroupAll, "db"},
		"h3": {patchgate.GroupAll},
	})

	// Deleting a group takes its memberships with it.
	must(t, s.DeleteGroup(ctx, "canary", newEvent(patchgate.EventGroupChanged)), "DeleteGroup")
	h1, err = s.GetHost(ctx, "h1")
	must(t, err, "GetHost")
	same(t, "groups of h1 after DeleteGroup", h1.Groups, []string{patchgate.GroupAll, "web"})
}

func testGroupAllProtected(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	enroll(t, s, "h1", "")
	err := s.RemoveFromGroup(ctx, patchgate.GroupAll, []string{"h1"}, newEvent(patchgate.EventGroupChanged))
	wantCode(t, err, patchgate.CodeInvalid, "RemoveFromGroup all")
	err = s.DeleteGroup(ctx, patchgate.GroupAll, newEvent(patchgate.EventGroupChanged))
	wantCode(t, err, patchgate.CodeInvalid, "DeleteGroup all")
	h, err := s.GetHost(ctx, "h1")
	must(t, err, "GetHost")
	same(t, "groups of h1", h.Groups, []string{patchgate.GroupAll})
	if _, ok := groupsByName(t, s)[patchgate.GroupAll]; !ok {
		t.Error("group all is gone")
	}
}

func testEnrollMany(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	newEnrollToken(t, s, "two", "prod", 2)
	rec := func(id string) patchgate.EnrollRecord {
		return patchgate.EnrollRecord{TokenID: "two", Now: t0, Host: patchgate.Host{ID: id, Inventory: newInventory(id)},
			CredentialHash: []byte("cred-" + id), Event: newEvent(patchgate.EventHostEnrolled)}
	}
	before := len(allEvents(t, s))
	dup := rec("m1")
	noID := rec("")
	res, err := s.EnrollMany(ctx, []patchgate.EnrollRecord{rec("m1"), dup, noID, rec("m2"), rec("m3")})
	must(t, err, "EnrollMany")
	if len(res) != 5 {
		t.Fatalf("%d results for 5 enrolments", len(res))
	}
	if res[0].Err != nil || res[0].Host.ID != "m1" || len(res[0].Host.Groups) != 2 {
		t.Errorf("first enrolment: %+v", res[0])
	}
	wantCode(t, res[1].Err, patchgate.CodeConflict, "the same host twice")
	wantCode(t, res[2].Err, patchgate.CodeInvalid, "no host id")
	if res[3].Err != nil {
		t.Errorf("second use of a two-use token: %v", res[3].Err)
	}
	wantCode(t, res[4].Err, patchgate.CodeUnauthorized, "a third use of a two-use token")
	// The refused ones left nothing behind: two hosts, two events, and the
	// duplicate did not consume a use.
	hosts, err := s.ListHosts(ctx)
	must(t, err, "ListHosts")
	if len(hosts) != 2 {
		t.Errorf("%d hosts after EnrollMany, want 2", len(hosts))
	}
	if got := len(allEvents(t, s)) - before; got != 2 {
		t.Errorf("%d events appended, want 2", got)
	}
	h, err := s.GetHost(ctx, "m2")
	must(t, err, "GetHost")
	if !slicesEqual(h.Groups, []string{"all", "prod"}) {
		t.Errorf("m2 groups: %v", h.Groups)
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

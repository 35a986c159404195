package patchgate

import (
	"strings"
	"testing"
	"time"
)

func syncUpdate(id string, rev int, kind Kind, products ...string) Update {
	u := Update{ID: id, Revision: rev, Title: "t", Kind: kind, Severity: SeverityHigh, Reboot: RebootNever,
		Payloads: []Payload{{Name: "p.sh", Size: 3, SHA256: strings.Repeat("a", 64), Installer: InstallerExec}}}
	for _, p := range products {
		u.Products = append(u.Products, ProductConstraint{Name: p})
	}
	return u
}

func TestDecideSync(t *testing.T) {
	up := Upstream{Name: "vendor", Products: []string{"cisco.ucce"}, Kinds: []Kind{KindHotfix, KindSecurity}}
	all := Upstream{Name: "vendor"}
	hf := func(rev int) Update { return syncUpdate("hf", rev, KindHotfix, "cisco.ucce") }
	from := func(rev int, st UpdateStatus) SyncLocal {
		return SyncLocal{Exists: true, Origin: "vendor", UpstreamRevision: rev, UpstreamStatus: st}
	}
	tests := []struct {
		name  string
		up    Upstream
		local SyncLocal
		e     FeedEntry
		want  SyncAction
	}{
		{"new posted", up, SyncLocal{}, FeedEntry{Seq: 1, Update: hf(1), Status: StatusPosted}, SyncNew},
		{"new superseded", up, SyncLocal{}, FeedEntry{Seq: 1, Update: hf(2), Status: StatusSuperseded}, SyncNew},
		{"new withdrawn: nothing to withdraw", up, SyncLocal{}, FeedEntry{Seq: 1, Update: hf(1), Status: StatusWithdrawn}, SyncSkip},
		{"other product filtered", up, SyncLocal{}, FeedEntry{Seq: 1, Update: syncUpdate("x", 1, KindHotfix, "openssl"), Status: StatusPosted}, SyncFiltered},
		{"other kind filtered", up, SyncLocal{}, FeedEntry{Seq: 1, Update: syncUpdate("x", 1, KindFeature, "cisco.ucce"), Status: StatusPosted}, SyncFiltered},
		{"no filters take all", all, SyncLocal{}, FeedEntry{Seq: 1, Update: syncUpdate("x", 1, KindFeature, "openssl"), Status: StatusPosted}, SyncNew},
		{"local update: conflict", up, SyncLocal{Exists: true}, FeedEntry{Seq: 1, Update: hf(1), Status: StatusPosted}, SyncConflict},
		{"other upstream: conflict", up, SyncLocal{Exists: true, Origin: "other", UpstreamRevision: 1, UpstreamStatus: StatusPosted}, FeedEntry{Seq: 1, Update: hf(1), Status: StatusPosted}, SyncConflict},
		{"same again: unchanged", up, from(1, StatusPosted), FeedEntry{Seq: 2, Update: hf(1), Status: StatusPosted}, SyncSkip},
		{"newer revision", up, from(1, StatusPosted), FeedEntry{Seq: 3, Update: hf(2), Status: StatusPosted}, SyncRevise},
		{"older revision ignored", up, from(3, StatusPosted), FeedEntry{Seq: 3, Update: hf(2), Status: StatusWithdrawn}, SyncSkip},
		{"withdrawn", up, from(1, StatusPosted), FeedEntry{Seq: 3, Update: hf(1), Status: StatusWithdrawn}, SyncWithdraw},
		{"withdrawn at a newer revision", up, from(1, StatusPosted), FeedEntry{Seq: 3, Update: hf(2), Status: StatusWithdrawn}, SyncWithdraw},
		{"superseded", up, from(1, StatusPosted), FeedEntry{Seq: 3, Update: hf(1), Status: StatusSuperseded}, SyncStatus},
		{"reposted after withdrawal", up, from(1, StatusWithdrawn), FeedEntry{Seq: 3, Update: hf(2), Status: StatusPosted}, SyncRevise},
		{"stored, now outside filters: still followed", up, from(1, StatusPosted), FeedEntry{Seq: 3, Update: syncUpdate("hf", 1, KindFeature, "cisco.ucce"), Status: StatusWithdrawn}, SyncWithdraw},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := DecideSync(tc.up, tc.local, tc.e); got != tc.want {
				t.Errorf("DecideSync = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestNextSync(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		now    string
		perDay int
		offset time.Duration
		want   string
	}{
		{"2026-12-04T10:00:00Z", 1, 3 * time.Hour, "2026-12-05T03:00:00Z"},
		{"2026-12-04T02:00:00Z", 1, 3 * time.Hour, "2026-12-04T03:00:00Z"},
		{"2026-12-04T03:00:00Z", 1, 3 * time.Hour, "2026-12-05T03:00:00Z"}, // strictly after
		{"2026-12-04T10:00:00Z", 4, 90 * time.Minute, "2026-12-04T13:30:00Z"},
		{"2026-12-04T23:59:00Z", 4, 90 * time.Minute, "2026-12-05T01:30:00Z"},
		{"2026-12-04T00:10:00Z", 24, 0, "2026-12-04T01:00:00Z"},
		{"2026-12-04T10:00:00Z", 2, 13 * time.Hour, "2026-12-04T13:00:00Z"},     // offset folded into the period
		{"2026-12-04T10:00:00+02:00", 1, 9 * time.Hour, "2026-12-04T09:00:00Z"}, // 08:00 UTC
	}
	for _, tc := range tests {
		if got := NextSync(at(tc.now), tc.perDay, tc.offset); !got.Equal(at(tc.want)) {
			t.Errorf("NextSync(%s, %d, %s) = %s, want %s", tc.now, tc.perDay, tc.offset, got.Format(time.RFC3339), tc.want)
		}
	}
	if got := NextSync(at("2026-12-04T10:00:00Z"), 0, time.Hour); !got.IsZero() {
		t.Errorf("no schedule: %s, want zero", got)
	}
}

func TestChain(t *testing.T) {
	a, b, c := "srv-00000000000000aa", "srv-00000000000000bb", "srv-00000000000000cc"
	for _, tc := range []struct {
		h     string
		want  []string
		field string
	}{
		{a, []string{a}, ""},
		{a + ", " + b + "," + a, []string{a, b}, ""},
		{"", nil, HeaderServerChain},
		{"srv-xyz", nil, HeaderServerChain},
		{a + ",,", nil, HeaderServerChain},
		{strings.Repeat(a+",", MaxChainLen+1), nil, HeaderServerChain},
	} {
		got, err := ParseChain(tc.h)
		if tc.field != "" {
			if ErrorCode(err) != CodeInvalid || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("ParseChain(%.40q) = %v, want invalid %s", tc.h, err, tc.field)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("ParseChain(%q) = %v, %v; want %v", tc.h, got, err, tc.want)
		}
	}
	if err := CheckChain(c, []string{a, b}); err != nil {
		t.Errorf("no loop: %v", err)
	}
	if err := CheckChain(b, []string{a, b}); ErrorCode(err) != CodeConflict {
		t.Errorf("loop: %v, want conflict", err)
	}
	if err := CheckLoop([]string{c, a}, []string{b, a}); ErrorCode(err) != CodeConflict || !strings.Contains(err.Error(), a) {
		t.Errorf("loop through an ancestor: %v, want conflict naming %s", err, a)
	}
	if err := CheckLoop([]string{c, a}, []string{b}); err != nil {
		t.Errorf("no loop: %v", err)
	}
	if got := BuildChain(c, [][]string{{b, a}, {a}}); strings.Join(got, ",") != strings.Join([]string{c, b, a}, ",") {
		t.Errorf("BuildChain = %v", got)
	}
}

func FuzzParseChain(f *testing.F) {
	for _, s := range []string{"srv-00000000000000aa", "srv-00000000000000aa,srv-00000000000000bb", "", ",", "srv-", "x,y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		ids, err := ParseChain(h)
		if err != nil {
			if ErrorCode(err) != CodeInvalid {
				t.Fatalf("error %v is not invalid", err)
			}
			return
		}
		if len(ids) == 0 || len(ids) > MaxChainLen {
			t.Fatalf("%d ids", len(ids))
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if !ValidServerID(id) || seen[id] {
				t.Fatalf("bad or duplicate id %q", id)
			}
			seen[id] = true
		}
	})
}

func TestUpstreamValidate(t *testing.T) {
	ok := func() Upstream {
		return Upstream{Name: "central", URL: "https://central.example.org:8443", Token: "pgt.abc.def", CAFingerprint: "ab"}
	}
	tests := []struct {
		field string
		edit  func(u *Upstream)
	}{
		{"", func(u *Upstream) {}},
		{"", func(u *Upstream) { u.URL = "http://10.0.0.1:8080"; u.CAFingerprint = "" }},
		{"name", func(u *Upstream) { u.Name = "Central!" }},
		{"url", func(u *Upstream) { u.URL = "ftp://x" }},
		{"url", func(u *Upstream) { u.URL = "https://x/?a=b" }},
		{"ca_fingerprint", func(u *Upstream) { u.CAFingerprint = "" }},
		{"token", func(u *Upstream) { u.Token = "" }},
		{"token", func(u *Upstream) { u.Token = "a b" }},
		{"products[0]", func(u *Upstream) { u.Products = []string{"Bad Product"} }},
		{"kinds[1]", func(u *Upstream) { u.Kinds = []Kind{KindHotfix, "patch"} }},
		{"content", func(u *Upstream) { u.Content = "later" }},
		{"", func(u *Upstream) { u.RootPins = map[string]string{"srv-0123456789abcdef": strings.Repeat("ab", 32)} }},
		{"root_pins", func(u *Upstream) { u.RootPins = map[string]string{"local": strings.Repeat("ab", 32)} }},
		{"root_pins", func(u *Upstream) { u.RootPins = map[string]string{"srv-0123456789abcdef": strings.Repeat("AB", 32)} }},
		{"root_pins", func(u *Upstream) { u.RootPins = map[string]string{"srv-0123456789abcdef": "ab"} }},
	}
	for _, tc := range tests {
		u := ok()
		tc.edit(&u)
		err := u.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", u, err)
			}
			if u.Content != ContentOnApproval {
				t.Errorf("default content %q", u.Content)
			}
			continue
		}
		var pe *Error
		if e, isPE := err.(*Error); isPE {
			pe = e
		}
		if pe == nil || pe.Field != tc.field {
			t.Errorf("%+v: %v, want field %s", u, err, tc.field)
		}
	}
}

func TestValidateFeedEntry(t *testing.T) {
	good := FeedEntry{Seq: 5, Update: syncUpdate("hf", 2, KindHotfix, "cisco.ucce"), Status: StatusPosted}
	if err := ValidateFeedEntry(good); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field string
		edit  func(e *FeedEntry)
	}{
		{"seq", func(e *FeedEntry) { e.Seq = 0 }},
		{"status", func(e *FeedEntry) { e.Status = StatusReceived }},
		{"update.revision", func(e *FeedEntry) { e.Update.Revision = 0 }},
		{"update.id", func(e *FeedEntry) { e.Update.ID = "../etc" }},
		{"update.kind", func(e *FeedEntry) { e.Update.Kind = "x" }},
		{"update.payloads[0].sha256", func(e *FeedEntry) { e.Update.Payloads[0].SHA256 = "" }},
		{"update.payloads[0].size", func(e *FeedEntry) { e.Update.Payloads[0].Size = 0 }},
		{"update.payloads[0].installer", func(e *FeedEntry) { e.Update.Payloads[0].Installer = "sh" }},
	}
	for _, tc := range tests {
		e := good
		e.Update.Payloads = append([]Payload(nil), good.Update.Payloads...)
		tc.edit(&e)
		err := ValidateFeedEntry(e)
		pe, _ := err.(*Error)
		if pe == nil || pe.Field != tc.field {
			t.Errorf("%s: %v", tc.field, err)
		}
	}
}

package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// TestFeedNamesSigningRepository: the feed lists the repositories this
// server serves (its own, by its server id) and names on each entry the
// repository that signs it; the own repository is served under the
// server id too, byte for byte as under local; unknown repositories are
// not served.
func TestFeedNamesSigningRepository(t *testing.T) {
	e, _, _, _ := newTrustEnv(t)
	e.publish("hf1", "cisco.ucce", ">=7.2(1)", []byte("#!/bin/sh\necho one\n"), nil)
	var tok adminapi.CreateTokenResponse
	if st := e.call("POST", "/api/v1/tokens", e.admin, adminapi.CreateTokenRequest{Kind: patchgate.TokenAPI, Name: "down", Role: patchgate.RoleDownstream}, &tok); st != 201 {
		t.Fatalf("token: %d", st)
	}
	req, _ := http.NewRequest("GET", e.http.URL+"/api/v1/feed/changes", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Secret)
	req.Header.Set(patchgate.HeaderServerChain, "srv-00000000000000aa")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page adminapi.FeedPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 {
		t.Fatalf("feed: %d %v", resp.StatusCode, err)
	}
	if len(page.Repos) != 1 || page.Repos[0] != page.ServerID {
		t.Fatalf("feed repos %v, want [%s]", page.Repos, page.ServerID)
	}
	if len(page.Entries) != 1 || page.Entries[0].Repo != page.ServerID {
		t.Fatalf("feed entries %+v", page.Entries)
	}
	for _, f := range []string{"1.root.json", "root.json", "timestamp.json"} {
		st1, a := get(t, e.http.URL+"/tuf/local/"+f)
		st2, b := get(t, e.http.URL+"/tuf/"+page.ServerID+"/"+f)
		if st1 != 200 || st2 != 200 || string(a) != string(b) {
			t.Errorf("%s: local %d, by server id %d, same bytes %v", f, st1, st2, string(a) == string(b))
		}
	}
	for _, p := range []string{"/tuf/srv-00000000000000bb/timestamp.json", "/tuf/" + page.ServerID + "/keys.json", "/tuf/..%2Fkeys/timestamp.json"} {
		if st, _ := get(t, e.http.URL+p); st != 404 {
			t.Errorf("GET %s: %d, want 404", p, st)
		}
	}
}

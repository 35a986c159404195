package e2e

import (
	"database/sql"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/pki"
)

// tufFile fetches /tuf/<repo>/<name> from s.
func tufFile(t *testing.T, s *server, repo, name string) []byte {
	t.Helper()
	hc, err := pki.NewHTTPClient(s.fingerprint, 0)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(s.url + "/tuf/" + repo + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /tuf/%s/%s: %d %s", repo, name, resp.StatusCode, data)
	}
	return data
}

// refusedBySignature fails t unless the only deployment events of update
// at s end with a failed event whose detail starts with "signature:" and
// contains want.
func refusedBySignature(t *testing.T, s *server, update, want string) {
	t.Helper()
	var evs []patchgate.Event
	s.runJSON(t, &evs, "events", "--update", update, "--type", "deployment")
	for _, e := range evs {
		if e.State == patchgate.StateInstalled || e.State == patchgate.StateInstalling {
			t.Fatalf("%s reached %s: %+v", update, e.State, e)
		}
		if e.State == patchgate.StateFailed && strings.HasPrefix(e.Detail, "signature:") && strings.Contains(e.Detail, want) {
			return
		}
	}
	t.Fatalf("no failed event with a signature: refusal mentioning %q for %s: %+v", want, update, evs)
}

// rogueEdit changes the database of a running site server behind its
// back, as an attacker who owns that server can; the approval that
// follows makes the server rebuild its plans from it.
func rogueEdit(t *testing.T, data string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "patchgate.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// tamperArgs rewrites the installer arguments of update's latest revision
// in the site's database.
func tamperArgs(t *testing.T, data, update string, args []string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "patchgate.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var doc string
	if err := db.QueryRow(`SELECT r.doc FROM update_revisions r JOIN updates u ON u.id = r.update_id AND u.revision = r.revision WHERE u.id = ?`, update).Scan(&doc); err != nil {
		t.Fatal(err)
	}
	var u map[string]any
	if err := json.Unmarshal([]byte(doc), &u); err != nil {
		t.Fatal(err)
	}
	u["payloads"].([]any)[0].(map[string]any)["args"] = args
	b, _ := json.Marshal(u)
	if _, err := db.Exec(`UPDATE update_revisions SET doc = ? WHERE update_id = ? AND revision = (SELECT revision FROM updates WHERE id = ?)`, string(b), update, update); err != nil {
		t.Fatal(err)
	}
}

// TestMirroredMetadataAndRogueSite: a site mirrors its vendor's TUF
// repository verbatim and its agents verify the vendor's signatures.
// A mirror that alters one byte of the vendor's metadata is refused by
// the agents (and healed by the next sync). Attack 10: a rogue site
// server that approves vendor content its publisher never signed — with
// other installer arguments under the vendor's update id, or signed by
// the site's own repository instead — gets nothing executed: the agent
// reports a failed event starting with "signature:".
func TestMirroredMetadataAndRogueSite(t *testing.T) {
	dir, work := t.TempDir(), t.TempDir()
	vendor := startServe(t, filepath.Join(dir, "vendor"), "--server-name", "vendor")
	site := startServe(t, filepath.Join(dir, "site"), "--server-name", "site")
	markers := map[string]string{}
	for _, id := range []string{"hf1", "hf2", "hf3", "hf4"} {
		markers[id] = filepath.Join(work, id+".ran")
		writeFile(t, filepath.Join(work, id+".sh"), "#!/bin/sh\necho \"$@\" > "+markers[id]+"\n", 0o755)
		writeFile(t, filepath.Join(work, id+".yaml"), "id: vendor-"+id+"\ntitle: fix "+id+"\nkind: hotfix\nseverity: high\nproducts: [{name: cisco.ucce}]\nreboot: never\n"+
			"payloads: [{name: "+id+".sh, installer: exec, args: [\"--safe\"]}]\n", 0o644)
	}
	post := func(id string) {
		vendor.run(t, false, "update", "add", filepath.Join(work, id+".yaml"), "--payload", filepath.Join(work, id+".sh"), "--post", "--force", "--reason", "vendor release")
	}
	post("hf1")
	var tok adminapi.CreateTokenResponse
	vendor.runJSON(t, &tok, "token", "create", "--role", "downstream", "--name", "site")
	// An agent enrolled before the site mirrors anything: it gets only
	// the site's own root.
	dpkg := filepath.Join(work, "dpkg")
	os.MkdirAll(dpkg, 0o755)
	writeFile(t, filepath.Join(dpkg, "status"), "", 0o644)
	site.run(t, false, "group", "create", "early")
	var early adminapi.CreateTokenResponse
	site.runJSON(t, &early, "token", "create", "--enroll", "--group", "early", "--uses", "1")
	writeFile(t, filepath.Join(work, "machine-id-early"), "machine-early\n", 0o600)
	earlyAgent := []string{"agent", "--enroll-token", early.Secret, "--state", filepath.Join(work, "agent-early"), "--product", "cisco.ucce=7.2(1)",
		"--hostname", "early1", "--machine-id-file", filepath.Join(work, "machine-id-early"), "--dpkg-admindir", dpkg, "--once", "--log-level", "warn"}
	site.run(t, false, earlyAgent...)

	var vst adminapi.SyncStatus
	vendor.runJSON(t, &vst, "sync", "status")
	vrepo := vst.ServerID
	var keys adminapi.TrustStatus
	vendor.runJSON(t, &keys, "keys", "status")
	vfp := keys.Repos[0].RootFingerprint
	// A pinned root fingerprint that is not the vendor's: the sync fails
	// and nothing is mirrored.
	add := func(pin string) {
		site.run(t, false, "upstream", "add", "vendor", "--url", vendor.url, "--token", tok.Secret, "--ca-fingerprint", vendor.fingerprint, "--content", "immediate",
			"--root-fingerprint", vrepo+"="+pin)
	}
	add(strings.Repeat("0", 64))
	if out := site.run(t, true, "sync", "now"); !strings.Contains(out, "pinned") {
		t.Fatalf("a sync with a wrong root pin: %s", out)
	}
	if out := site.run(t, true, "upstream", "add", "v2", "--url", vendor.url, "--token", "pgt.x.y", "--ca-fingerprint", vendor.fingerprint,
		"--root-fingerprint", "local=ab"); !strings.Contains(out, "--root-fingerprint") {
		t.Fatalf("a malformed pin: %s", out)
	}
	site.run(t, false, "upstream", "remove", "vendor")
	add(vfp)
	if out := site.run(t, false, "sync", "now"); !strings.Contains(out, "succeeded") {
		t.Fatalf("site sync: %s", out)
	}
	var skeys adminapi.TrustStatus
	site.runJSON(t, &skeys, "keys", "status")
	if len(skeys.Repos) != 2 || skeys.Repos[1].Repo != vrepo || !skeys.Repos[1].Mirrored || skeys.Repos[1].RootFingerprint != vfp || skeys.Repos[1].Targets != 1 {
		t.Fatalf("keys status at the site: %+v", skeys.Repos)
	}
	if out := site.run(t, false, "keys", "status"); !strings.Contains(out, "repository "+vrepo+" (a verbatim mirror") {
		t.Fatalf("keys status table at the site:\n%s", out)
	}
	for _, f := range []string{"1.root.json", "root.json", "timestamp.json"} {
		if a, b := tufFile(t, vendor.server, vrepo, f), tufFile(t, site.server, vrepo, f); string(a) != string(b) {
			t.Fatalf("the site's mirror of %s differs from the vendor's", f)
		}
	}

	var enrol adminapi.CreateTokenResponse
	site.run(t, false, "group", "create", "tills")
	site.runJSON(t, &enrol, "token", "create", "--enroll", "--group", "tills", "--uses", "1")
	writeFile(t, filepath.Join(work, "machine-id"), "machine-till9\n", 0o600)
	agent := []string{"agent", "--enroll-token", enrol.Secret, "--state", filepath.Join(work, "agent"), "--product", "cisco.ucce=7.2(1)",
		"--hostname", "till9", "--machine-id-file", filepath.Join(work, "machine-id"), "--dpkg-admindir", dpkg, "--once", "--log-level", "warn"}
	site.run(t, false, agent...)
	site.run(t, false, "approve", "vendor-hf1", "--group", "tills")
	site.run(t, false, agent...)
	if got, err := os.ReadFile(markers["hf1"]); err != nil || strings.TrimSpace(string(got)) != "--safe" {
		t.Fatalf("the site's agent did not install the vendor's update: %q %v", got, err)
	}

	// The early agent has no root for the vendor's repository: refused,
	// until the operator gives it the vendor's fingerprint.
	os.Remove(markers["hf1"])
	site.run(t, false, "approve", "vendor-hf1", "--group", "early")
	if out := site.run(t, true, earlyAgent...); !strings.Contains(out, "no trusted root for repository "+vrepo) {
		t.Fatalf("an agent without the vendor's root: %s", out)
	}
	if _, err := os.Stat(markers["hf1"]); err == nil {
		t.Fatal("installed without a trusted root")
	}
	site.run(t, false, append(earlyAgent, "--trust-root", vrepo+"="+vfp)...)
	if _, err := os.Stat(markers["hf1"]); err != nil {
		t.Fatalf("not installed once the vendor's root was pinned: %v", err)
	}

	// A mirror altering one byte of the vendor's metadata: refused.
	post("hf2")
	site.run(t, false, "sync", "now")
	ts := filepath.Join(dir, "site", "tuf", "mirror", vrepo, "timestamp.json")
	good, err := os.ReadFile(ts)
	if err != nil {
		t.Fatal(err)
	}
	// One digit of the expiry date: well-formed, no longer what was signed.
	bad := append([]byte(nil), good...)
	i := strings.Index(string(good), `"expires":"`) + len(`"expires":"`) + 3
	bad[i] = '9' - (bad[i] - '0')
	if err := os.WriteFile(ts, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	site.run(t, false, "approve", "vendor-hf2", "--group", "tills")
	site.run(t, true, agent...)
	if _, err := os.Stat(markers["hf2"]); err == nil {
		t.Fatal("an update was installed against altered metadata")
	}
	refusedBySignature(t, site.server, "vendor-hf2", "timestamp")
	// The next sync puts the verified bytes back; the agent installs.
	site.run(t, false, "sync", "now")
	site.run(t, false, agent...)
	if _, err := os.Stat(markers["hf2"]); err != nil {
		t.Fatalf("not installed once the mirror was healed: %v", err)
	}

	// Attack 10, approving content the vendor never signed: the rogue
	// site gives the vendor's update other installer arguments.
	post("hf3")
	post("hf4")
	site.run(t, false, "sync", "now")
	tamperArgs(t, site.data, "vendor-hf3", []string{"--evil"})
	site.run(t, false, "approve", "vendor-hf3", "--group", "tills")
	site.run(t, true, agent...)
	if _, err := os.Stat(markers["hf3"]); err == nil {
		t.Fatal("the rogue site's arguments ran")
	}
	refusedBySignature(t, site.server, "vendor-hf3", "args")

	// Attack 10, signing it itself: the rogue site makes the vendor's
	// update its own (its local repository signs it, arguments and all)
	// and points the plan at its own repository.
	tamperArgs(t, site.data, "vendor-hf4", []string{"--evil"})
	rogueEdit(t, site.data, `DELETE FROM update_origins WHERE update_id = 'vendor-hf4'`)
	site.run(t, false, "approve", "vendor-hf4", "--group", "tills")
	site.run(t, false, "verify", "vendor-hf4") // its own repository does sign it now
	site.run(t, true, agent...)
	if _, err := os.Stat(markers["hf4"]); err == nil {
		t.Fatal("content the rogue site signed itself under the vendor's update id ran")
	}
	refusedBySignature(t, site.server, "vendor-hf4", "published in repository "+vrepo)
	if entries, _ := os.ReadDir(filepath.Join(work, "agent", "staging")); len(entries) != 0 {
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("staging is not empty after the refusals: %v", names)
	}
}

//go:build !agentonly

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agent"
	"github.com/patchgate/patchgate/installer"
)

type demoOptions struct {
	Dir         string
	KeepRunning bool
}

func newDemoCmd(g *globalOptions) *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "See patchgate work in 30 seconds: a server, sample updates, groups, approvals and agents",
		Long: `Start a server on a temporary directory, publish sample updates (hotfixes,
one superseding another, one with a prerequisite), create groups test and
prod, approve, run a handful of in-process agents with harmless exec
payloads (one manual host, one failing install), and print the compliance
table and where the data lives.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), o, g.JSON, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "directory for the demo's data (default: a new temporary directory)")
	cmd.Flags().BoolVar(&o.KeepRunning, "keep-running", false, "keep the server running afterwards, to explore it with the CLI (Ctrl-C stops it)")
	return cmd
}

type demoUpdate struct {
	manifest patchgate.Manifest
	script   string
	approve  map[string]patchgate.Action // group -> action
}

func demoCatalog() []demoUpdate {
	ucce := []patchgate.ProductConstraint{{Name: "cisco.ucce", Versions: ">=7.2(1), <7.3"}}
	ok := func(msg string) string { return "#!/bin/sh\necho \"" + msg + ": applying $*\"\nexit 0\n" }
	return []demoUpdate{
		{manifest: patchgate.Manifest{ID: "ucce-7.2.1-hf1", Title: "UCCE 7.2(1) router restart fix", Kind: patchgate.KindHotfix, Severity: patchgate.SeverityHigh,
			Products: ucce, ReleaseDate: "2026-11-02", Reboot: patchgate.RebootNever,
			Payloads: []patchgate.ManifestPayload{{Name: "ucce-hf1.sh", Installer: patchgate.InstallerExec, Args: []string{"--component", "router"}}}},
			script: ok("ucce hf1"), approve: map[string]patchgate.Action{"test": patchgate.ActionInstall, "prod": patchgate.ActionInstall}},
		{manifest: patchgate.Manifest{ID: "ucce-7.2.1-hf2", Title: "UCCE 7.2(1) critical: CTI server crash (supersedes hf1)", Kind: patchgate.KindHotfix, Severity: patchgate.SeverityCritical,
			Products: ucce, ReleaseDate: "2026-11-20", Reboot: patchgate.RebootNever, Supersedes: []string{"ucce-7.2.1-hf1"}, CVEs: []string{"CVE-2026-41234"},
			Payloads: []patchgate.ManifestPayload{{Name: "ucce-hf2.sh", Installer: patchgate.InstallerExec, Args: []string{"--component", "cti"}}}},
			script: ok("ucce hf2"), approve: map[string]patchgate.Action{"test": patchgate.ActionInstall, "prod": patchgate.ActionInstall}},
		{manifest: patchgate.Manifest{ID: "ucce-7.2.1-es5", Title: "UCCE 7.2(1) engineering special 5 (requires hf2)", Kind: patchgate.KindSecurity, Severity: patchgate.SeverityMedium,
			Products: ucce, ReleaseDate: "2026-11-28", Reboot: patchgate.RebootNever, Requires: []string{"ucce-7.2.1-hf2"},
			Payloads: []patchgate.ManifestPayload{{Name: "ucce-es5.sh", Installer: patchgate.InstallerExec}}},
			script: ok("ucce es5"), approve: map[string]patchgate.Action{"test": patchgate.ActionInstall, "prod": patchgate.ActionInstall}},
		{manifest: patchgate.Manifest{ID: "cvp-11.6-hf3", Title: "CVP 11.6 call server hotfix (its installer fails in this demo)", Kind: patchgate.KindHotfix, Severity: patchgate.SeverityHigh,
			Products: []patchgate.ProductConstraint{{Name: "cisco.cvp", Versions: "11.6"}}, Reboot: patchgate.RebootNever,
			Payloads: []patchgate.ManifestPayload{{Name: "cvp-hf3.sh", Installer: patchgate.InstallerExec}}},
			script: "#!/bin/sh\necho 'cvp hf3: disk quota exceeded on /opt/cvp' >&2\nexit 3\n", approve: map[string]patchgate.Action{"prod": patchgate.ActionInstall}},
		{manifest: patchgate.Manifest{ID: "openssl-3.0.15-sec", Title: "OpenSSL 3.0.15 security update (declined in this demo)", Kind: patchgate.KindSecurity, Severity: patchgate.SeverityLow,
			Products: []patchgate.ProductConstraint{{Name: "openssl", Versions: "<3.0.15"}}, Reboot: patchgate.RebootNever,
			Payloads: []patchgate.ManifestPayload{{Name: "openssl.sh", Installer: patchgate.InstallerExec}}},
			script: ok("openssl"), approve: map[string]patchgate.Action{"all": patchgate.ActionDecline}},
	}
}

type demoHost struct {
	name     string
	group    string
	mode     patchgate.Mode
	products []patchgate.InstalledProduct
}

func demoFleet() []demoHost {
	ucce := patchgate.InstalledProduct{Name: "cisco.ucce", Version: "7.2(1)"}
	ssl := patchgate.InstalledProduct{Name: "openssl", Version: "3.0.11"}
	return []demoHost{
		{"ucce-lab-01", "test", patchgate.ModeAutomatic, []patchgate.InstalledProduct{ucce, ssl}},
		{"ucce-prod-01", "prod", patchgate.ModeAutomatic, []patchgate.InstalledProduct{ucce, ssl}},
		{"ucce-prod-02", "prod", patchgate.ModeAutomatic, []patchgate.InstalledProduct{ucce}},
		{"cvp-prod-01", "prod", patchgate.ModeAutomatic, []patchgate.InstalledProduct{{Name: "cisco.cvp", Version: "11.6"}}},
		{"appliance-prod-01", "prod", patchgate.ModeManual, []patchgate.InstalledProduct{ucce}},
	}
}

func runDemo(ctx context.Context, o *demoOptions, asJSON bool, out io.Writer) error {
	dir := o.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "patchgate-demo-"); err != nil {
			return err
		}
	}
	dir, _ = filepath.Abs(dir)
	step := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }

	// The server, as `patchgate serve` runs it, on a random loopback port.
	srvCtx, stopServer := context.WithCancel(ctx)
	defer stopServer()
	type ready struct{ url, fp, token string }
	readyc := make(chan ready, 1)
	errc := make(chan error, 1)
	var serverOut strings.Builder
	so := &serveOptions{Data: filepath.Join(dir, "server"), Listen: "127.0.0.1:0", MaxPayload: 64 << 20, LogLevel: "error",
		Notify: notifyOptions{Poll: 5 * time.Second}}
	go func() {
		errc <- runServe(srvCtx, so, &serverOut, func(u, fp, tok string) { readyc <- ready{u, fp, tok} })
	}()
	var r ready
	select {
	case r = <-readyc:
	case err := <-errc:
		return fmt.Errorf("starting the demo server: %w", err)
	case <-time.After(30 * time.Second):
		return fmt.Errorf("the demo server did not start within 30s")
	}
	if r.token == "" {
		return fmt.Errorf("%s already holds a server: pass an empty --dir", dir)
	}
	step("server running at %s (data in %s)", r.url, so.Data)
	g := &globalOptions{Server: r.url, Token: r.token, CAFingerprint: r.fp}
	c, err := newAPIClient(g)
	if err != nil {
		return err
	}
	c.progress = nil

	for _, name := range []string{"test", "prod"} {
		if err := c.do(ctx, "POST", "/api/v1/groups", nil, adminapi.CreateGroupRequest{Name: name, Description: "demo " + name + " ring"}, nil); err != nil {
			return err
		}
	}
	step("created groups test and prod")
	if err := c.do(ctx, "PUT", "/api/v1/release/test-groups/test", nil, nil, nil); err != nil {
		return err
	}
	step("designated test as the test group: received updates are tested there before they are posted")

	payloadDir := filepath.Join(dir, "payloads")
	if err := os.MkdirAll(payloadDir, 0o755); err != nil {
		return err
	}
	catalog := demoCatalog()
	for _, d := range catalog {
		m := d.manifest
		sum := sha256.Sum256([]byte(d.script))
		m.Payloads[0].SHA256, m.Payloads[0].Size = hex.EncodeToString(sum[:]), int64(len(d.script))
		if err := os.WriteFile(filepath.Join(payloadDir, m.Payloads[0].Name), []byte(d.script), 0o755); err != nil {
			return err
		}
		if err := c.putContent(ctx, m.Payloads[0].SHA256, strings.NewReader(d.script), int64(len(d.script))); err != nil {
			return err
		}
		if err := c.do(ctx, "POST", "/api/v1/updates", nil, adminapi.AddUpdateRequest{Manifest: m}, nil); err != nil {
			return fmt.Errorf("publishing %s: %w", m.ID, err)
		}
		extra := ""
		if len(m.Supersedes) > 0 {
			extra = ", supersedes " + strings.Join(m.Supersedes, ",")
		}
		if len(m.Requires) > 0 {
			extra = ", requires " + strings.Join(m.Requires, ",")
		}
		step("added %s (%s, %s%s): received", m.ID, m.Kind, m.Severity, extra)
	}
	// Testing: approve for the test group, which starts the tests.
	for _, d := range catalog {
		if action, ok := d.approve["test"]; ok {
			req := adminapi.ApproveRequest{Updates: []string{d.manifest.ID}, Group: "test", Action: action}
			if err := c.do(ctx, "POST", "/api/v1/approvals", nil, req, nil); err != nil {
				return err
			}
			step("%s %s for test group test: testing", action, d.manifest.ID)
		}
	}

	// Agents, in process, each with its own state dir and identity.
	client, err := httpClientFor(r.url, r.fp, time.Minute)
	if err != nil {
		return err
	}
	emptyDpkg := filepath.Join(dir, "empty-dpkg")
	os.MkdirAll(emptyDpkg, 0o755)
	os.WriteFile(filepath.Join(emptyDpkg, "status"), nil, 0o644)
	var agents []*agent.Agent
	for _, h := range demoFleet() {
		var tok adminapi.CreateTokenResponse
		one := 1
		if err := c.do(ctx, "POST", "/api/v1/tokens", nil, adminapi.CreateTokenRequest{Kind: patchgate.TokenEnroll, Group: h.group, Uses: &one, ExpiresIn: "1h", Name: "demo " + h.name}, &tok); err != nil {
			return err
		}
		state := filepath.Join(dir, "agents", h.name)
		if err := os.MkdirAll(state, 0o700); err != nil {
			return err
		}
		idFile := filepath.Join(dir, "agents", h.name+".machine-id")
		os.WriteFile(idFile, []byte(fmt.Sprintf("demo-%s\n", h.name)), 0o600)
		a, err := agent.New(agent.Config{
			Server: r.url, Client: client, StateDir: state, EnrollToken: tok.Secret, Mode: h.mode,
			Products: h.products, DpkgAdminDir: emptyDpkg, Installer: installer.Config{DpkgAdminDir: emptyDpkg},
			Hostname: h.name, MachineIDFile: idFile, Interval: time.Hour, Version: version,
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			return err
		}
		if err := a.Enroll(ctx); err != nil {
			return fmt.Errorf("enrolling %s: %w", h.name, err)
		}
		agents = append(agents, a)
		step("enrolled %s into %s (%s)", h.name, h.group, h.mode)
	}
	fleet := demoFleet()
	runAgent := func(i int) {
		h, a := fleet[i], agents[i]
		sum, err := a.RunOnce(ctx)
		switch {
		case sum.Manual:
			step("%s: manual action required for %d update(s): nothing installed by the agent", h.name, sum.Skipped)
		case err != nil:
			step("%s: %d installed, %d failed (%v)", h.name, sum.Installed, sum.Failed, err)
		default:
			step("%s: %d installed", h.name, sum.Installed)
		}
	}
	// The test hosts first: their reports decide the tests.
	for i, h := range fleet {
		if h.group == "test" {
			runAgent(i)
		}
	}
	// Posting: tested updates as they are; the others (not covered by the
	// test ring) forced, with the reason in the audit log.
	for _, d := range catalog {
		var st patchgate.ReleaseState
		var info adminapi.UpdateInfo
		if err := c.do(ctx, "GET", "/api/v1/updates/"+d.manifest.ID, nil, nil, &info); err != nil {
			return err
		}
		req := adminapi.PostUpdateRequest{}
		if info.Release.Status != patchgate.StatusTested {
			req = adminapi.PostUpdateRequest{Force: true, Reason: "demo: not covered by the test ring"}
		}
		if err := c.do(ctx, "POST", "/api/v1/updates/"+d.manifest.ID+"/post", nil, req, &st); err != nil {
			return err
		}
		how := "tested"
		if st.Forced {
			how = fmt.Sprintf("%s, forced", info.Release.Status)
		}
		step("posted %s (%s)", d.manifest.ID, how)
	}
	for _, d := range catalog {
		for group, action := range d.approve {
			if group == "test" {
				continue
			}
			req := adminapi.ApproveRequest{Updates: []string{d.manifest.ID}, Group: group, Action: action}
			if action == patchgate.ActionInstall && group == "prod" {
				req.Deadline = "72h"
			}
			if err := c.do(ctx, "POST", "/api/v1/approvals", nil, req, nil); err != nil {
				return err
			}
			step("%s %s for group %s", action, d.manifest.ID, group)
		}
	}
	for i, h := range fleet {
		if h.group != "test" {
			runAgent(i)
		}
	}

	var rep adminapi.ComplianceReport
	if err := c.do(ctx, "GET", "/api/v1/reports/compliance", nil, nil, &rep); err != nil {
		return err
	}
	if asJSON {
		if err := emitJSON(out, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(out)
		fmt.Fprintln(out, "Compliance (patchgate report compliance):")
		var shown []patchgate.ComplianceRow
		for _, row := range rep.Rows {
			if row.Group != "all" {
				shown = append(shown, row)
			}
		}
		if err := writeComplianceTable(out, shown); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nData lives in %s\n", dir)
		fmt.Fprintf(out, "  server database and content: %s\n", so.Data)
		fmt.Fprintf(out, "  agent state directories:     %s\n", filepath.Join(dir, "agents"))
	}
	if !o.KeepRunning {
		fmt.Fprintln(out, "Run with --keep-running to explore it with the CLI; `patchgate serve --data "+so.Data+"` reopens it.")
		return nil
	}
	fmt.Fprintf(out, "\nThe server keeps running. In another shell:\n  export PATCHGATE_SERVER=%s PATCHGATE_CA_FINGERPRINT=%s PATCHGATE_TOKEN=%s\n  patchgate host list\n  patchgate report compliance\nCtrl-C stops it.\n", r.url, r.fp, r.token)
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	stopServer()
	return <-errc
}

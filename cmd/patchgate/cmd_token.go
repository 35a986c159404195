//go:build !agentonly

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// defaultEnrollExpiry applies to enrolment tokens created without --expires:
// a forgotten enrolment token should not stay usable for ever.
const defaultEnrollExpiry = 24 * time.Hour

func (a *adminCLI) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API and enrolment tokens",
	}
	cmd.AddCommand(a.tokenCreateCmd(), a.tokenListCmd(), a.tokenRevokeCmd())
	return cmd
}

type tokenCreateFlags struct {
	enroll  bool
	role    string
	name    string
	group   string
	mode    string
	expires string
	uses    int
	usesSet bool
}

func (a *adminCLI) tokenCreateCmd() *cobra.Command {
	var f tokenCreateFlags
	cmd := &cobra.Command{
		Use:   "create (--enroll [--group G] [--mode M] [--uses N] | --role ROLE --name NAME) [--expires D]",
		Short: "Create an enrolment token for agents or an API token for people and scripts",
		Long: `Create a token. The secret is printed once, on standard output; the server
keeps only its hash.

  token create --enroll [--group G] [--mode automatic|manual] [--expires 24h] [--uses N] [--name N]
      an enrolment token: agents enrol with it and join group G.
      Without --expires it expires after 24h; --expires never keeps it.
  token create --role admin|approver|publisher|viewer|downstream --name NAME [--expires D]
      an API token for the admin CLI and API. Without --expires it never expires.

Durations are like 90m, 72h or 30d.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.usesSet = cmd.Flags().Changed("uses")
			req, err := f.request()
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "POST", "/api/v1/tokens", nil, req, &raw); err != nil {
				return err
			}
			var resp adminapi.CreateTokenResponse
			if err := json.Unmarshal(raw, &resp); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			if a.g.JSON {
				return emitRawJSON(out, raw)
			}
			// The secret alone on stdout, so that T=$(patchgate token create
			// ...) works; the rest on stderr.
			fmt.Fprintln(out, resp.Secret)
			fmt.Fprint(cmd.ErrOrStderr(), tokenHint(resp, a.g, a.now()))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.enroll, "enroll", false, "create an enrolment token for agents")
	fl.StringVar(&f.role, "role", "", "create an API token with this role: admin, approver, publisher, viewer or downstream (a downstream server)")
	fl.StringVar(&f.name, "name", "", "a name for people (required for API tokens; shown in the audit log)")
	fl.StringVar(&f.group, "group", "", "enrolment tokens: hosts enrolled with it join this group")
	fl.StringVar(&f.mode, "mode", "", "enrolment tokens: mode of the hosts, automatic or manual (default: the agent's)")
	fl.StringVar(&f.expires, "expires", "", "lifetime, e.g. 24h or 30d; never = no expiry (default: 24h for enrolment tokens, never for API tokens)")
	fl.IntVar(&f.uses, "uses", 0, "enrolment tokens: how many hosts may enrol with it (default: unlimited)")
	return cmd
}

// request checks the flags and builds the API request.
func (f tokenCreateFlags) request() (adminapi.CreateTokenRequest, error) {
	var req adminapi.CreateTokenRequest
	if f.enroll == (f.role != "") {
		return req, patchgate.Invalid("--enroll", "give either --enroll (an enrolment token) or --role (an API token)")
	}
	if f.name != "" {
		if err := checkText("--name", f.name, 64); err != nil {
			return req, err
		}
	}
	req.Name = f.name
	if f.enroll {
		req.Kind = patchgate.TokenEnroll
		if f.group != "" {
			if err := checkNameArg("--group", f.group); err != nil {
				return req, err
			}
		}
		req.Group = f.group
		if f.mode != "" && !patchgate.Mode(f.mode).Valid() {
			return req, patchgate.Invalid("--mode", "must be automatic or manual, not %q", f.mode)
		}
		req.Mode = patchgate.Mode(f.mode)
		if f.usesSet {
			if f.uses < 1 {
				return req, patchgate.Invalid("--uses", "must be at least 1, not %d", f.uses)
			}
			n := f.uses
			req.Uses = &n
		}
	} else {
		req.Kind = patchgate.TokenAPI
		if !patchgate.Role(f.role).Valid() {
			return req, patchgate.Invalid("--role", "must be admin, approver, publisher, viewer or downstream, not %q", f.role)
		}
		req.Role = patchgate.Role(f.role)
		if strings.TrimSpace(f.name) == "" {
			return req, patchgate.Invalid("--name", "is required for API tokens: say who or what will use it")
		}
		for _, c := range []struct {
			flag string
			set  bool
		}{{"--group", f.group != ""}, {"--mode", f.mode != ""}, {"--uses", f.usesSet}} {
			if c.set {
				return req, patchgate.Invalid(c.flag, "applies only to enrolment tokens (--enroll)")
			}
		}
	}
	switch e := strings.TrimSpace(f.expires); {
	case e == "never":
	case e == "" && f.enroll:
		req.ExpiresIn = defaultEnrollExpiry.String()
	case e == "":
	default:
		d, err := parseFlagDuration("--expires", e)
		if err != nil {
			return req, err
		}
		req.ExpiresIn = d.String()
	}
	return req, nil
}

// checkText refuses control characters and overlong values.
func checkText(flag, s string, max int) error {
	if len(s) > max {
		return patchgate.Invalid(flag, "longer than %d bytes", max)
	}
	if cleanCell(s) != strings.TrimSpace(s) {
		return patchgate.Invalid(flag, "contains a control character")
	}
	return nil
}

// tokenHint says what was created and how to use the secret.
func tokenHint(resp adminapi.CreateTokenResponse, g *globalOptions, now time.Time) string {
	t := resp.Token
	var b strings.Builder
	var what []string
	if t.Name != "" {
		what = append(what, "name "+t.Name)
	}
	if t.Kind == patchgate.TokenEnroll {
		if t.Group != "" {
			what = append(what, "group "+t.Group)
		}
		if t.Mode != "" {
			what = append(what, "mode "+string(t.Mode))
		}
		if t.UsesLeft != nil {
			what = append(what, fmt.Sprintf("%d uses", *t.UsesLeft))
		}
	} else {
		what = append(what, "role "+string(t.Role))
	}
	if t.ExpiresAt != nil {
		what = append(what, "expires "+stampText(*t.ExpiresAt)+" ("+relativeTime(*t.ExpiresAt, now)+")")
	} else {
		what = append(what, "never expires")
	}
	kind := "API token"
	if t.Kind == patchgate.TokenEnroll {
		kind = "enrolment token"
	}
	fmt.Fprintf(&b, "created %s %s (%s)\n", kind, t.ID, strings.Join(what, ", "))
	b.WriteString("The secret above is shown only this once: store it now. Revoke it with: patchgate token revoke " + t.ID + "\n")
	if t.Kind == patchgate.TokenEnroll {
		fp := g.CAFingerprint
		if fp == "" {
			fp = "<ca-fingerprint>"
		}
		fmt.Fprintf(&b, "Enrol a host with it: patchgate agent --server %s --ca-fingerprint %s --enroll-token <secret>\n", g.Server, fp)
	} else {
		b.WriteString("Use it with: export PATCHGATE_TOKEN=<secret>   (or --token)\n")
	}
	return b.String()
}

func (a *adminCLI) tokenListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/tokens", nil)
			if err != nil {
				return err
			}
			var tokens []patchgate.Token
			if err := decodeList(raw, "tokens", &tokens); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			now := a.now()
			return a.show(out, raw, func() error {
				t := newTextTable(out, "ID", "KIND", "NAME", "ROLE", "GROUP", "MODE", "USES LEFT", "EXPIRES", "CREATED", "STATUS")
				for _, tk := range tokens {
					uses := ""
					if tk.Kind == patchgate.TokenEnroll {
						uses = "unlimited"
						if tk.UsesLeft != nil {
							uses = itoaCell(*tk.UsesLeft)
						}
					}
					expires := "never"
					if tk.ExpiresAt != nil {
						expires = relativeTime(*tk.ExpiresAt, now)
					}
					t.row(tk.ID, string(tk.Kind), truncateText(tk.Name, 30), string(tk.Role), tk.Group, string(tk.Mode),
						uses, expires, stampText(tk.CreatedAt), tokenStatus(tk, now))
				}
				return t.flush()
			})
		},
	}
}

func tokenStatus(t patchgate.Token, now time.Time) string {
	switch {
	case t.Revoked:
		return "revoked"
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return "expired"
	case t.Kind == patchgate.TokenEnroll && t.UsesLeft != nil && *t.UsesLeft <= 0:
		return "used up"
	}
	return "active"
}

func (a *adminCLI) tokenRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token: it stops working at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNameArg("ID", args[0]); err != nil {
				return err
			}
			return a.deleteOne(cmd, "/api/v1/tokens/"+pathEscape(args[0]), "revoked", args[0], "revoked token "+args[0])
		},
	}
}

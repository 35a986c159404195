//go:build !agentonly

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
)

// addAdminCommands adds the admin CLI, the commands that talk to a server's
// admin API, to root. They share the global flags in g.
func addAdminCommands(root *cobra.Command, g *globalOptions) {
	a := &adminCLI{g: g, now: time.Now}
	root.AddCommand(
		a.updateCmd(),
		a.tokenCmd(),
		a.groupCmd(),
		a.approveCmd(),
		a.declineCmd(),
		a.unapproveCmd(),
		a.approvalCmd(),
		a.hostCmd(),
		a.reportCmd(),
		a.eventsCmd(),
		a.whoamiCmd(),
		a.subscribeCmd(),
		a.notifyCmd(),
		a.webhookCmd(),
		a.windowCmd(),
		a.rolloutCmd(),
		a.releaseCmd(),
		a.advisoryCmd(),
		a.ruleCmd(),
		a.upstreamCmd(),
		a.syncCmd(),
		a.purgeCmd(),
		a.keysCmd(),
		a.verifyCmd(),
	)
}

// adminCLI carries what every admin command needs.
type adminCLI struct {
	g   *globalOptions
	now func() time.Time
}

// client builds the API client; commands call it after checking their own
// flags, so a wrong flag fails before anything is sent.
func (a *adminCLI) client() (*apiClient, error) {
	c, err := newAPIClient(a.g)
	if err != nil {
		return nil, err
	}
	if c.token == "" {
		return nil, errNoToken
	}
	return c, nil
}

// get fetches path and returns the body as it came.
func (a *adminCLI) get(ctx context.Context, path string, q url.Values) (json.RawMessage, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	err = c.do(ctx, "GET", path, q, nil, &raw)
	return raw, err
}

// show prints raw as JSON under --json, else calls table.
func (a *adminCLI) show(w io.Writer, raw json.RawMessage, table func() error) error {
	if a.g.JSON {
		return emitRawJSON(w, raw)
	}
	return table()
}

func (a *adminCLI) whoamiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the API token in use and its role",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/whoami", nil)
			if err != nil {
				return err
			}
			var w adminapi.WhoAmI
			if err := json.Unmarshal(raw, &w); err != nil {
				return unexpectedAnswer(err)
			}
			return a.show(cmd.OutOrStdout(), raw, func() error {
				name := w.Name
				if name == "" {
					name = "(unnamed)"
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "token %s %s, role %s\n", w.TokenID, cleanCell(name), w.Role)
				return err
			})
		},
	}
}

func unexpectedAnswer(err error) error {
	return patchgate.Errorf(patchgate.CodeInternal, "unexpected answer from the server: %v", err)
}

// Flag checks. Each names the flag at fault.

func checkKindFlag(flag, s string) error {
	if s != "" && !patchgate.Kind(s).Valid() {
		return patchgate.Invalid(flag, "must be one of %s, not %q", joinKinds(), s)
	}
	return nil
}

func checkSeverityFlag(flag, s string) error {
	if s != "" && !patchgate.Severity(s).Valid() {
		return patchgate.Invalid(flag, "must be one of %s, not %q", joinSeverities(), s)
	}
	return nil
}

func joinKinds() string {
	var s []string
	for _, k := range patchgate.Kinds {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

func joinSeverities() string {
	var s []string
	for _, v := range patchgate.Severities {
		s = append(s, string(v))
	}
	return strings.Join(s, ", ")
}

// checkUpdateIDs checks update ids given as arguments.
func checkUpdateIDs(ids []string) error {
	for _, id := range ids {
		if !patchgate.ValidUpdateID(id) {
			return patchgate.Invalid("UPDATE", "%q is not an update id", id)
		}
	}
	return nil
}

// checkNameArg checks a group, host or token name given on the command line:
// one path segment, printable.
// deleteOne sends DELETE path for one named object and says so: with
// --json as {verb: name}, else as message.
func (a *adminCLI) deleteOne(cmd *cobra.Command, path, verb, name, message string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	if err := c.do(cmd.Context(), "DELETE", path, nil, nil, nil); err != nil {
		return err
	}
	if a.g.JSON {
		return emitJSON(cmd.OutOrStdout(), map[string]string{verb: name})
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), message)
	return err
}

func checkNameArg(what, s string) error {
	if !agentapi.ValidID(s) {
		return patchgate.Invalid(what, "%q: use letters, digits and . _ : + - (at most 128, starting with a letter or digit)", s)
	}
	return nil
}

// parseFlagDuration reads a duration flag: Go syntax ("90m", "72h") or whole
// days ("7d").
func parseFlagDuration(flag, s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" {
		var days int
		days, err = strconv.Atoi(n)
		if err == nil && (days < 0 || days > 10*365) {
			return 0, patchgate.Invalid(flag, "%q is out of range", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil {
		return 0, patchgate.Invalid(flag, "%q is not a duration like 90m, 72h or 7d", s)
	}
	if d <= 0 {
		return 0, patchgate.Invalid(flag, "must be positive, not %q", s)
	}
	return d, nil
}

// parseDeadlineFlag reads --deadline: a duration from now or an RFC 3339
// time, and returns it in the form the API takes.
func parseDeadlineFlag(s string, now time.Time) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if !t.After(now) {
			return "", patchgate.Invalid("--deadline", "%s is in the past", s)
		}
		return t.Format(time.RFC3339), nil
	}
	d, err := parseFlagDuration("--deadline", s)
	if err != nil {
		return "", patchgate.Invalid("--deadline", "%q is neither a duration like 72h or 3d nor an RFC 3339 time like 2026-07-01T18:00:00Z", s)
	}
	return d.String(), nil
}

// send calls the API and answers the user: the server's JSON as it came
// with --json, else text of the answer decoded as T.
func send[T any](cmd *cobra.Command, a *adminCLI, method, path string, q url.Values, body any, text func(out io.Writer, v T) error) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.do(cmd.Context(), method, path, q, body, &raw); err != nil {
		return err
	}
	if a.g.JSON {
		return emitRawJSON(cmd.OutOrStdout(), raw)
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return unexpectedAnswer(err)
	}
	return text(cmd.OutOrStdout(), v)
}

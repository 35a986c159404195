package notify

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/patchgate/patchgate"
)

// fix is one update a mail tells of.
type fix struct {
	ID, Title, Kind, Severity, Products, CVEs string
	Revision                                  int
	Revised                                   bool
}

// alert is one failed install a mail tells of.
type alert struct {
	Host, Update, Detail string
	ExitCode             int
	Time                 string
}

type mailData struct {
	Server, ServerURL, Intro, Unsub string
	Fixes                           []fix
	Alerts                          []alert
}

var htmlTmpl = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>patchgate</title></head>
<body style="font-family: sans-serif">
<p>{{.Intro}}</p>
{{if .Fixes}}<table border="1" cellpadding="4" cellspacing="0" style="border-collapse: collapse">
<tr><th>Update</th><th>Severity</th><th>Kind</th><th>Products</th><th>Title</th></tr>
{{range .Fixes}}<tr><td>{{.ID}} (rev {{.Revision}}{{if .Revised}}, revised{{end}})</td><td>{{.Severity}}</td><td>{{.Kind}}</td><td>{{.Products}}</td><td>{{.Title}}{{if .CVEs}}<br><small>{{.CVEs}}</small>{{end}}</td></tr>
{{end}}</table>{{end}}
{{if .Alerts}}<h3>Failed installs</h3><table border="1" cellpadding="4" cellspacing="0" style="border-collapse: collapse">
<tr><th>Time</th><th>Host</th><th>Update</th><th>Exit code</th><th>Detail</th></tr>
{{range .Alerts}}<tr><td>{{.Time}}</td><td>{{.Host}}</td><td>{{.Update}}</td><td>{{.ExitCode}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>{{end}}
<hr>
<p><small>Sent by the patchgate server <b>{{.Server}}</b>{{if .ServerURL}} ({{.ServerURL}}){{end}}.
{{if .Unsub}}<a href="{{.Unsub}}">Unsubscribe</a> from these mails.{{end}}</small></p>
</body></html>
`))

// render builds the mail of a delivery from its events and the updates
// they name, as the catalog holds them now.
func (d *Dispatcher) render(ctx context.Context, dl patchgate.Delivery) (message, error) {
	switch dl.Stream {
	case patchgate.StreamAlert:
		return d.renderAlerts(dl)
	case patchgate.StreamManual:
		return d.renderManual(dl)
	case patchgate.StreamReport:
		return d.renderReport(ctx, dl)
	}
	data := mailData{Server: d.cfg.ServerName, ServerURL: d.cfg.PublicURL}
	seen := map[string]int{}
	for _, ev := range dl.Events {
		switch ev.Type {
		case patchgate.EventUpdateAdded, patchgate.EventUpdateRevised, patchgate.EventUpdatePosted, patchgate.EventUpdateSynced:
			u, err := d.store.GetUpdate(ctx, ev.UpdateID)
			if patchgate.IsNotFound(err) {
				continue
			}
			if err != nil {
				return message{}, err
			}
			var products []string
			for _, p := range u.Products {
				products = append(products, p.Name)
			}
			f := fix{ID: u.ID, Title: u.Title, Kind: string(u.Kind), Severity: string(u.Severity),
				Products: strings.Join(products, ", "), CVEs: strings.Join(u.CVEs, ", "),
				Revision: u.Revision, Revised: u.Revision > 1 && ev.Type != patchgate.EventUpdateSynced}
			if i, ok := seen[u.ID]; ok {
				data.Fixes[i] = f
				continue
			}
			seen[u.ID] = len(data.Fixes)
			data.Fixes = append(data.Fixes, f)
		case patchgate.EventDeployment:
			data.Alerts = append(data.Alerts, alert{Host: ev.HostID, Update: ev.UpdateID, Detail: ev.Detail,
				ExitCode: ev.ExitCode, Time: ev.Time.UTC().Format("2006-01-02 15:04 UTC")})
		}
	}
	// Most severe first: the reader of a digest of 500 sees what matters.
	slices.SortStableFunc(data.Fixes, func(a, b fix) int {
		if c := patchgate.Severity(b.Severity).Rank() - patchgate.Severity(a.Severity).Rank(); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	var subject string
	tag := "[" + d.cfg.ServerName + "] "
	digest := ""
	switch dl.Mode {
	case patchgate.ModeDaily:
		digest = "daily digest: "
	case patchgate.ModeWeekly:
		digest = "weekly digest: "
	}
	switch {
	case len(data.Fixes) == 1 && len(data.Alerts) == 0:
		f := data.Fixes[0]
		verb := "new"
		if f.Revised {
			verb = "revised"
		}
		subject = fmt.Sprintf("%s%s%s %s %s %s: %s", tag, digest, verb, f.Severity, f.Kind, f.ID, f.Title)
	case len(data.Alerts) > 0 && len(data.Fixes) == 0:
		subject = tag + digest + plural(len(data.Alerts), "failed install", "failed installs")
	default:
		subject = tag + digest + plural(len(data.Fixes), "new or revised fix", "new or revised fixes")
		if len(data.Alerts) > 0 {
			subject += ", " + plural(len(data.Alerts), "failed install", "failed installs")
		}
	}
	var parts []string
	if n := len(data.Fixes); n > 0 {
		parts = append(parts, plural(n, "new or revised fix", "new or revised fixes"))
	}
	if n := len(data.Alerts); n > 0 {
		parts = append(parts, plural(n, "failed install", "failed installs"))
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing new") // the updates were withdrawn since
	}
	data.Intro = fmt.Sprintf("The patchgate server %s reports %s.", d.cfg.ServerName, strings.Join(parts, " and "))
	if d.cfg.PublicURL != "" && len(d.cfg.Secret) > 0 {
		data.Unsub = strings.TrimRight(d.cfg.PublicURL, "/") + "/unsubscribe?token=" +
			url.QueryEscape(patchgate.UnsubscribeToken(d.cfg.Secret, dl.SubscriptionID))
	}

	var text bytes.Buffer
	text.WriteString(data.Intro + "\n\n")
	if len(data.Fixes) > 0 {
		tw := tabwriter.NewWriter(&text, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "UPDATE\tREV\tSEVERITY\tKIND\tPRODUCTS\tTITLE")
		for _, f := range data.Fixes {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", f.ID, f.Revision, f.Severity, f.Kind, f.Products, f.Title)
		}
		tw.Flush()
		text.WriteString("\n")
	}
	if len(data.Alerts) > 0 {
		text.WriteString("Failed installs:\n")
		for _, a := range data.Alerts {
			fmt.Fprintf(&text, "  %s  host %s  update %s  exit %d  %s\n", a.Time, a.Host, a.Update, a.ExitCode, a.Detail)
		}
		text.WriteString("\n")
	}
	text.WriteString("-- \nSent by the patchgate server " + d.cfg.ServerName)
	if d.cfg.PublicURL != "" {
		text.WriteString(" (" + d.cfg.PublicURL + ")")
	}
	text.WriteString(".\n")
	if data.Unsub != "" {
		text.WriteString("Unsubscribe: " + data.Unsub + "\n")
	}
	var html bytes.Buffer
	if err := htmlTmpl.Execute(&html, data); err != nil {
		return message{}, err
	}
	return message{
		ID:       dl.ID + "@" + d.domain,
		To:       dl.Address,
		Subject:  subject,
		Text:     text.String(),
		HTML:     html.String(),
		Unsub:    data.Unsub,
		Date:     orNow(dl.CreatedAt),
		ServerID: d.cfg.ServerName,
	}, nil
}

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

func htmlEscape(s string) string { return template.HTMLEscapeString(s) }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

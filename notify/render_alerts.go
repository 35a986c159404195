package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/patchgate/patchgate"
)

// unsubURL is the one-click unsubscribe link of a subscription's mail.
func (d *Dispatcher) unsubURL(subscriptionID string) string {
	if d.cfg.PublicURL == "" || len(d.cfg.Secret) == 0 {
		return ""
	}
	return strings.TrimRight(d.cfg.PublicURL, "/") + "/unsubscribe?token=" +
		url.QueryEscape(patchgate.UnsubscribeToken(d.cfg.Secret, subscriptionID))
}

// footer is the plain-text end of every mail.
func (d *Dispatcher) footer(unsub, why string) string {
	var b strings.Builder
	b.WriteString("-- \nSent by the patchgate server " + d.cfg.ServerName)
	if d.cfg.PublicURL != "" {
		b.WriteString(" (" + d.cfg.PublicURL + ")")
	}
	b.WriteString(".\n")
	if why != "" {
		b.WriteString(why + "\n")
	}
	if unsub != "" {
		b.WriteString("Unsubscribe: " + unsub + "\n")
	}
	return b.String()
}

// ---- admin alerts ----

// alertLine is one alert of an alert mail.
type alertLine struct {
	Time, Kind, Summary string
}

// AlertSummary describes an alert event in one line.
func AlertSummary(ev patchgate.Event) (kind, summary string) {
	switch ev.Type {
	case patchgate.EventSLABreached:
		return "SLA breached", orText(ev.Detail, "update "+ev.UpdateID+" missed its SLA")
	case patchgate.EventSLAApproaching:
		return "SLA approaching", orText(ev.Detail, "update "+ev.UpdateID+" nears its SLA")
	case patchgate.EventRolloutHalted:
		return "rollout halted", orText(ev.Detail, "the rollout of "+ev.UpdateID+" halted")
	case patchgate.EventAlertFailures:
		var a patchgate.FailureAlert
		if json.Unmarshal([]byte(ev.Detail), &a) == nil && a.Failures > 0 {
			return "install failures", fmt.Sprintf("%s failed to install on %d hosts within %s from %s: %s",
				a.UpdateID, a.Failures, a.Period, a.PeriodStart.UTC().Format("2006-01-02 15:04 UTC"), strings.Join(a.Hosts, ", "))
		}
		return "install failures", "installs of " + ev.UpdateID + " failed on many hosts"
	case patchgate.AlertAdvisoryImported, patchgate.AlertAdvisoryUpdated:
		a, _ := patchgate.ParseAdvisoryDetail(ev.Detail)
		verb := "new advisory"
		if ev.Type == patchgate.AlertAdvisoryUpdated {
			verb = "updated advisory"
		}
		s := fmt.Sprintf("%s %s (%s): %s exposes %d hosts", verb, a.ID, orText(string(a.Severity), "unrated"), a.Title,
			a.ExposedHosts)
		if len(a.CVEs) > 0 {
			cves := a.CVEs
			if len(cves) > 10 {
				cves = append(cves[:10:10], fmt.Sprintf("and %d more", len(a.CVEs)-10))
			}
			s += " [" + strings.Join(cves, ", ") + "]"
		}
		return "advisory exposes hosts", s
	case patchgate.EventAlertDeadline:
		var o patchgate.OverdueUpdate
		if json.Unmarshal([]byte(ev.Detail), &o) == nil && o.UpdateID != "" {
			return "deadline passed", fmt.Sprintf("the deadline %s of %s (%s, %s) for group %s passed with %d of %d hosts not compliant",
				o.Deadline.UTC().Format("2006-01-02 15:04 UTC"), o.UpdateID, o.Title, o.Severity, o.Group, o.NonCompliant, o.Hosts)
		}
		return "deadline passed", "an approval deadline of " + ev.UpdateID + " passed with hosts not compliant"
	}
	return ev.Type, ev.Detail
}

var alertTmpl = template.Must(template.New("alert").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>patchgate alert</title></head>
<body style="font-family: sans-serif">
<p>{{.Intro}}</p>
<table border="1" cellpadding="4" cellspacing="0" style="border-collapse: collapse">
<tr><th>Time</th><th>Alert</th><th>What</th></tr>
{{range .Lines}}<tr><td>{{.Time}}</td><td><b>{{.Kind}}</b></td><td>{{.Summary}}</td></tr>
{{end}}</table>
<hr>
<p><small>Sent by the patchgate server <b>{{.Server}}</b>{{if .ServerURL}} ({{.ServerURL}}){{end}}.
{{if .Unsub}}<a href="{{.Unsub}}">Unsubscribe</a> from these mails.{{end}}</small></p>
</body></html>
`))

func (d *Dispatcher) renderAlerts(dl patchgate.Delivery) (message, error) {
	var lines []alertLine
	for _, ev := range dl.Events {
		k, s := AlertSummary(ev)
		lines = append(lines, alertLine{Time: ev.Time.UTC().Format("2006-01-02 15:04 UTC"), Kind: k, Summary: s})
	}
	tag := "[" + d.cfg.ServerName + "] "
	subject := tag + plural(len(lines), "alert", "alerts")
	if len(lines) == 1 {
		subject = oneLine(tag+"alert: "+lines[0].Kind+": "+lines[0].Summary, 200)
	}
	unsub := d.unsubURL(dl.SubscriptionID)
	intro := fmt.Sprintf("The patchgate server %s raises %s.", d.cfg.ServerName, plural(len(lines), "alert", "alerts"))
	var text bytes.Buffer
	text.WriteString(intro + "\n\n")
	for _, l := range lines {
		fmt.Fprintf(&text, "  %s  %s: %s\n", l.Time, strings.ToUpper(l.Kind), l.Summary)
	}
	text.WriteString("\n" + d.footer(unsub, ""))
	var html bytes.Buffer
	err := alertTmpl.Execute(&html, map[string]any{"Intro": intro, "Lines": lines, "Server": d.cfg.ServerName,
		"ServerURL": d.cfg.PublicURL, "Unsub": unsub})
	if err != nil {
		return message{}, err
	}
	return message{ID: dl.ID + "@" + d.domain, To: dl.Address, Subject: subject, Text: text.String(), HTML: html.String(),
		Unsub: unsub, Date: orNow(dl.CreatedAt), ServerID: d.cfg.ServerName}, nil
}

// ---- manual action required ----

var manualTmpl = template.Must(template.New("manual").Funcs(template.FuncMap{"deadline": fmtDeadline}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>patchgate: manual action required</title></head>
<body style="font-family: sans-serif">
<p>{{.Intro}}</p>
{{range .Notices}}<h3>Host {{.HostID}}{{if .Hostname}} ({{.Hostname}}){{end}}</h3>
<table border="1" cellpadding="4" cellspacing="0" style="border-collapse: collapse">
<tr><th>Update</th><th>Severity</th><th>Action</th><th>Deadline</th><th>Title</th><th>Where to get it</th></tr>
{{range .Items}}<tr><td>{{.UpdateID}} (rev {{.Revision}})</td><td>{{.Severity}}</td><td>{{.Action}}</td><td>{{deadline .Deadline}}</td><td>{{.Title}}</td><td>{{range .URLs}}<a href="{{.}}">{{.}}</a><br>{{end}}</td></tr>
{{end}}</table>
{{end}}
<p>The links need an API token, e.g. <code>curl -fO -H "Authorization: Bearer $PATCHGATE_TOKEN" URL</code>; the file's SHA-256 is the last part of its URL.
When done, record each install with <code>patchgate host mark-installed HOST UPDATE</code>.</p>
<hr>
<p><small>Sent by the patchgate server <b>{{.Server}}</b>{{if .ServerURL}} ({{.ServerURL}}){{end}} to {{.To}}, the owner set for these hosts (patchgate host set-owner / group set-owner).</small></p>
</body></html>
`))

func fmtDeadline(t *time.Time) string {
	if t == nil {
		return "none"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func (d *Dispatcher) renderManual(dl patchgate.Delivery) (message, error) {
	var notices []patchgate.ManualNotice
	items := 0
	for _, ev := range dl.Events {
		var n patchgate.ManualNotice
		if err := json.Unmarshal([]byte(ev.Detail), &n); err != nil {
			return message{}, permanentError{fmt.Errorf("manual action notice %s: %w", ev.ID, err)}
		}
		// Content paths become URLs people can fetch.
		for i := range n.Items {
			for j, u := range n.Items[i].URLs {
				if strings.HasPrefix(u, "/") && d.cfg.PublicURL != "" {
					n.Items[i].URLs[j] = strings.TrimRight(d.cfg.PublicURL, "/") + u
				}
			}
		}
		// A later notice of the same host replaces the earlier one.
		replaced := false
		for i := range notices {
			if notices[i].HostID == n.HostID {
				items -= len(notices[i].Items)
				notices[i], replaced = n, true
			}
		}
		if !replaced {
			notices = append(notices, n)
		}
		items += len(n.Items)
	}
	if len(notices) == 0 {
		return message{}, permanentError{errors.New("manual action mail without notices")}
	}
	tag := "[" + d.cfg.ServerName + "] "
	subject := tag + "manual action required: " + plural(items, "update", "updates") + " to install by hand on "
	if len(notices) == 1 {
		subject += notices[0].HostID
	} else {
		subject += plural(len(notices), "host", "hosts")
	}
	intro := fmt.Sprintf("The patchgate server %s asks you to install updates by hand: these hosts are in manual mode, so their agents do not install.", d.cfg.ServerName)
	var text bytes.Buffer
	text.WriteString(intro + "\n")
	for _, n := range notices {
		fmt.Fprintf(&text, "\nHost %s", n.HostID)
		if n.Hostname != "" {
			fmt.Fprintf(&text, " (%s)", n.Hostname)
		}
		text.WriteString(":\n")
		tw := tabwriter.NewWriter(&text, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  UPDATE\tREV\tSEVERITY\tACTION\tDEADLINE\tTITLE")
		for _, it := range n.Items {
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\n", it.UpdateID, it.Revision, it.Severity, it.Action, fmtDeadline(it.Deadline), it.Title)
		}
		tw.Flush()
		for _, it := range n.Items {
			for _, u := range it.URLs {
				fmt.Fprintf(&text, "  %s: %s\n", it.UpdateID, u)
			}
		}
	}
	text.WriteString("\nThe links need an API token, e.g. curl -fO -H \"Authorization: Bearer $PATCHGATE_TOKEN\" URL;\n" +
		"the file's SHA-256 is the last part of its URL.\n" +
		"When done, record each install with: patchgate host mark-installed HOST UPDATE\n\n")
	text.WriteString(d.footer("", "You get this mail as the owner set for these hosts (patchgate host set-owner / group set-owner)."))
	var html bytes.Buffer
	err := manualTmpl.Execute(&html, map[string]any{"Intro": intro, "Notices": notices, "Server": d.cfg.ServerName,
		"ServerURL": d.cfg.PublicURL, "To": dl.Address})
	if err != nil {
		return message{}, err
	}
	return message{ID: dl.ID + "@" + d.domain, To: dl.Address, Subject: subject, Text: text.String(), HTML: html.String(),
		Date: orNow(dl.CreatedAt), ServerID: d.cfg.ServerName}, nil
}

// ---- the status report ----

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{"pct": pct}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>patchgate status report</title></head>
<body style="font-family: sans-serif">
<h2>Status report of {{.Server}}, {{.R.Day}}</h2>
<p>{{.Intro}}</p>
<h3>Compliance over the last {{len .R.History}} days (all hosts)</h3>
<p><img src="cid:{{.Chart}}" alt="Bar chart: compliance of all hosts per day, 0 to 100%" width="600" height="160"><br>
<small>{{.From}} to {{.To}}, one bar a day, grid lines at 50% and 100%; green: at least 95%, orange: at least 80%, red: below; grey: no snapshot that day.</small></p>
<h3>Compliance per group</h3>
<table border="1" cellpadding="4" cellspacing="0" style="border-collapse: collapse">
<tr><th>Group</th><th>Hosts</th><th>Installed</th><th>To install</th><th>Compliant</th></tr>
{{range .R.Groups}}<tr><td>{{.Group}}</td><td>{{.Hosts}}</td><td>{{.Installed}}</td><td>{{.Applicable}}</td><td>{{pct .Compliant}}</td></tr>
{{end}}</table>
<h3>Overdue updates</h3>
{{if .R.Overdue}}<table border="1" cellpadding="4" cellspacing="0" style="border-collapse: collapse">
<tr><th>Update</th><th>Severity</th><th>Group</th><th>Deadline</th><th>Hosts not compliant</th><th>Title</th></tr>
{{range .R.Overdue}}<tr><td>{{.UpdateID}}</td><td>{{.Severity}}</td><td>{{.Group}}</td><td>{{.Deadline.Format "2006-01-02 15:04 MST"}}</td><td>{{.NonCompliant}} of {{.Hosts}}</td><td>{{.Title}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
<h3>Failed installs</h3>
{{if .R.Failed}}<table border="1" cellpadding="4" cellspacing="0" style="border-collapse: collapse">
<tr><th>Update</th><th>Severity</th><th>Hosts failed</th><th>Title</th></tr>
{{range .R.Failed}}<tr><td>{{.UpdateID}}</td><td>{{.Severity}}</td><td>{{.Hosts}}</td><td>{{.Title}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
<hr>
<p><small>Sent by the patchgate server <b>{{.Server}}</b>{{if .ServerURL}} ({{.ServerURL}}){{end}}.
{{if .Unsub}}<a href="{{.Unsub}}">Unsubscribe</a> from these mails.{{end}}</small></p>
</body></html>
`))

func pct(f float64) string { return fmt.Sprintf("%.1f%%", math.Floor(f*1000)/10) }

// chartName is the file name and Content-ID of the report's chart.
const chartName = "compliance.png"

func (d *Dispatcher) renderReport(ctx context.Context, dl patchgate.Delivery) (message, error) {
	if d.cfg.StatusReport == nil {
		return message{}, errors.New("the status report is not available on this server")
	}
	r, err := d.cfg.StatusReport(ctx)
	if err != nil {
		return message{}, err
	}
	return d.reportMessage(dl, r)
}

// reportMessage renders a status report as the mail of dl.
func (d *Dispatcher) reportMessage(dl patchgate.Delivery, r patchgate.StatusReport) (message, error) {
	chart, err := DrawChart(r.History)
	if err != nil {
		return message{}, err
	}
	all := "no hosts"
	for _, g := range r.Groups {
		if g.Group == patchgate.GroupAll {
			all = pct(g.Compliant) + " compliant"
		}
	}
	subject := fmt.Sprintf("[%s] status report %s: %s, %d overdue, %d failing", d.cfg.ServerName, r.Day, all, len(r.Overdue), len(r.Failed))
	intro := fmt.Sprintf("The patchgate server %s reports, as of %s (%s): %s, %s, %s.", d.cfg.ServerName,
		r.GeneratedAt.UTC().Format("2006-01-02 15:04 UTC"), r.TimeZone, all,
		plural(len(r.Overdue), "overdue update", "overdue updates"), plural(len(r.Failed), "update failing", "updates failing"))
	unsub := d.unsubURL(dl.SubscriptionID)

	var text bytes.Buffer
	text.WriteString(intro + "\n\nCOMPLIANCE PER GROUP\n")
	tw := tabwriter.NewWriter(&text, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  GROUP\tHOSTS\tINSTALLED\tTO INSTALL\tCOMPLIANT")
	for _, g := range r.Groups {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\n", g.Group, g.Hosts, g.Installed, g.Applicable, pct(g.Compliant))
	}
	tw.Flush()
	text.WriteString("\nOVERDUE UPDATES\n")
	if len(r.Overdue) == 0 {
		text.WriteString("  none\n")
	}
	for _, o := range r.Overdue {
		fmt.Fprintf(&text, "  %s (%s) group %s: deadline %s, %d of %d hosts not compliant - %s\n", o.UpdateID, o.Severity, o.Group,
			o.Deadline.UTC().Format("2006-01-02 15:04 UTC"), o.NonCompliant, o.Hosts, o.Title)
	}
	text.WriteString("\nFAILED INSTALLS\n")
	if len(r.Failed) == 0 {
		text.WriteString("  none\n")
	}
	for _, f := range r.Failed {
		fmt.Fprintf(&text, "  %s (%s): failed on %d hosts - %s\n", f.UpdateID, f.Severity, f.Hosts, f.Title)
	}
	text.WriteString("\nCOMPLIANCE OF ALL HOSTS, LAST DAYS\n")
	for _, p := range r.History {
		if !p.Missing {
			fmt.Fprintf(&text, "  %s  %s\n", p.Day, pct(p.Compliant))
		}
	}
	text.WriteString("\n" + d.footer(unsub, ""))
	var html bytes.Buffer
	from, to := "", ""
	if n := len(r.History); n > 0 {
		from, to = r.History[0].Day, r.History[n-1].Day
	}
	err = reportTmpl.Execute(&html, map[string]any{"R": r, "Intro": intro, "Chart": chartName, "From": from, "To": to, "Server": d.cfg.ServerName,
		"ServerURL": d.cfg.PublicURL, "Unsub": unsub})
	if err != nil {
		return message{}, err
	}
	return message{ID: dl.ID + "@" + d.domain, To: dl.Address, Subject: subject, Text: text.String(), HTML: html.String(),
		Unsub: unsub, Date: orNow(dl.CreatedAt), ServerID: d.cfg.ServerName,
		Inline: []inlineImage{{Name: chartName, Data: chart}}}, nil
}

// oneLine makes s fit a header: control characters become spaces, and it
// is cut to at most max bytes (on a rune boundary) with "...".
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= max {
		return s
	}
	cut := max - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

//go:build !agentonly

package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// textTable writes aligned columns. Cells are sanitised: a tab, newline or
// terminal escape sequence coming from the server (a host name, a detail
// string) cannot break the layout or drive the terminal.
type textTable struct {
	tw     *tabwriter.Writer
	indent string
}

func newTextTable(w io.Writer, headers ...string) *textTable {
	return newIndentedTable(w, "", headers...)
}

// newIndentedTable starts every line with indent, for tables inside a
// detail view.
func newIndentedTable(w io.Writer, indent string, headers ...string) *textTable {
	t := &textTable{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0), indent: indent}
	if len(headers) > 0 {
		t.row(headers...)
	}
	return t
}

func (t *textTable) row(cells ...string) {
	io.WriteString(t.tw, t.indent)
	for i, c := range cells {
		c = cleanCell(c)
		if c == "" {
			c = "-"
		}
		if i > 0 {
			io.WriteString(t.tw, "\t")
		}
		io.WriteString(t.tw, c)
	}
	io.WriteString(t.tw, "\n")
}

func (t *textTable) flush() error { return t.tw.Flush() }

// cleanCell replaces control characters (tabs and newlines included) with
// spaces and trims the result.
func cleanCell(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 && utf8.ValidString(s) {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			r = ' '
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// truncateText shortens s to at most n runes, ending with "…" when cut.
func truncateText(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n == 1 {
		return "…"
	}
	i, count := 0, 0
	for j := range s {
		if count == n-1 {
			i = j
			break
		}
		count++
	}
	return s[:i] + "…"
}

// shortSHA shows the first 12 hex digits of a sha256, enough to recognise it.
func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// relativeTime says how long ago (or how far ahead) t is from now: "just now",
// "42s ago", "3m ago", "5h ago", "2d ago", "in 3h"; "never" for the zero time.
func relativeTime(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh", int(d/time.Hour))
	case d < 60*24*time.Hour:
		s = fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d < 2*365*24*time.Hour:
		s = fmt.Sprintf("%dmo", int(d/(30*24*time.Hour)))
	default:
		s = fmt.Sprintf("%dy", int(d/(365*24*time.Hour)))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// stampText formats t in local time for tables; "" for the zero time.
func stampText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04")
}

// deadlineText shows a deadline as a time stamp and how far away it is.
func deadlineText(d *time.Time, now time.Time) string {
	if d == nil || d.IsZero() {
		return ""
	}
	return stampText(*d) + " (" + relativeTime(*d, now) + ")"
}

// byteSize formats a size in binary units: 512 B, 1.5 KiB, 27.0 MiB.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// percentDown shows a share (0..1) as a whole percentage rounded down, so that
// "100%" means every host, not 99.6% of them.
func percentDown(f float64) string {
	return strconv.Itoa(int(math.Floor(f*100+1e-9))) + "%"
}

func joinOr(list []string, empty string) string {
	if len(list) == 0 {
		return empty
	}
	return strings.Join(list, ", ")
}

// emitJSON prints v as indent-2 JSON.
func emitJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// emitRawJSON prints an API response body as indent-2 JSON, as the server
// sent it.
func emitRawJSON(w io.Writer, raw json.RawMessage) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("server answered malformed JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// complianceHeaders are the columns of the compliance table.
var complianceHeaders = []string{"UPDATE", "GROUP", "APPROVAL", "HOSTS", "INSTALLED", "NEEDED", "IN-PROGRESS", "FAILED", "N/A", "REBOOT", "UNKNOWN", "MANUAL", "COMPLIANT%"}

func writeComplianceTable(w io.Writer, rows []patchgate.ComplianceRow) error {
	t := newTextTable(w, complianceHeaders...)
	for _, r := range rows {
		approval := string(r.Approval)
		if approval == "" {
			approval = "none"
		}
		t.row(r.UpdateID, r.Group, approval, itoaCell(r.Hosts), itoaCell(r.Installed), itoaCell(r.Needed),
			itoaCell(r.InProgress), itoaCell(r.Failed), itoaCell(r.NotApplicable), itoaCell(r.RebootPending),
			itoaCell(r.Unknown), itoaCell(r.ManualActionRequired), compliantCell(r))
	}
	return t.flush()
}

// complianceCSVHeader is the header row of `report compliance --csv`.
var complianceCSVHeader = []string{"update", "title", "severity", "group", "approval", "hosts", "installed", "needed", "in_progress", "failed", "not_applicable", "reboot_pending", "unknown", "manual_action_required", "compliant_percent"}

func writeComplianceCSV(w io.Writer, rep adminapi.ComplianceReport) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(complianceCSVHeader); err != nil {
		return err
	}
	for _, r := range rep.Rows {
		rec := []string{csvText(r.UpdateID), csvText(r.Title), string(r.Severity), csvText(r.Group), string(r.Approval),
			itoaCell(r.Hosts), itoaCell(r.Installed), itoaCell(r.Needed), itoaCell(r.InProgress), itoaCell(r.Failed),
			itoaCell(r.NotApplicable), itoaCell(r.RebootPending), itoaCell(r.Unknown), itoaCell(r.ManualActionRequired),
			strconv.FormatFloat(math.Round(r.Compliant()*1000)/10, 'f', 1, 64)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvText keeps a spreadsheet from reading a text cell (an update title
// written by a publisher, say) as a formula.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func itoaCell(n int) string { return strconv.Itoa(n) }

// compliantCell is the COMPLIANT% cell; a declined update is never offered,
// so a percentage of hosts "needing" it would only alarm.
func compliantCell(r patchgate.ComplianceRow) string {
	if r.Approval == patchgate.ActionDecline {
		return "declined"
	}
	return percentDown(r.Compliant())
}

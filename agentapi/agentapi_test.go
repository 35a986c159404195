package agentapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

var evTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func validInventory() map[string]any {
	return map[string]any{
		"hostname":       "web-01",
		"os":             "linux",
		"arch":           "amd64",
		"mode":           "manual",
		"products":       []any{map[string]any{"name": "cisco.ucce", "version": "7.2(1)"}, map[string]any{"name": "openssl", "version": "3.0.2-0ubuntu1.10"}},
		"installed":      []any{"HF-1", "SR:2026.01"},
		"reboot_pending": []any{"HF-2"},
		"agent":          "patchgate/1.0.0",
		"interval":       int64(10 * time.Minute),
	}
}

func validEnroll() map[string]any {
	return map[string]any{"token": "pg_enroll_abc", "machine_id": "4c4c4544-0042", "inventory": validInventory()}
}

func validCheckin() map[string]any {
	return map[string]any{"inventory": validInventory()}
}

func validEvent(id string) map[string]any {
	return map[string]any{"id": id, "time": evTime.Format(time.RFC3339Nano), "type": "deployment", "update_id": "HF-1", "state": "installing", "detail": "running installer"}
}

func validEvents() map[string]any {
	return map[string]any{"events": []any{validEvent("ev-1"), validEvent("ev-2")}}
}

func encode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func inv(m map[string]any) map[string]any { return m["inventory"].(map[string]any) }
func ev(m map[string]any, i int) map[string]any {
	return m["events"].([]any)[i].(map[string]any)
}

func asError(t *testing.T, err error) *patchgate.Error {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	var e *patchgate.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *patchgate.Error", err, err)
	}
	return e
}

func TestDecodeEnrollValid(t *testing.T) {
	req, err := DecodeEnroll(bytes.NewReader(encode(t, validEnroll())))
	if err != nil {
		t.Fatal(err)
	}
	want := EnrollRequest{
		Token:     "pg_enroll_abc",
		MachineID: "4c4c4544-0042",
		Inventory: patchgate.Inventory{
			Hostname: "web-01", OS: "linux", Arch: "amd64", Mode: patchgate.ModeManual,
			Products:      []patchgate.InstalledProduct{{Name: "cisco.ucce", Version: "7.2(1)"}, {Name: "openssl", Version: "3.0.2-0ubuntu1.10"}},
			Installed:     []string{"HF-1", "SR:2026.01"},
			RebootPending: []string{"HF-2"},
			Agent:         "patchgate/1.0.0",
			Interval:      10 * time.Minute,
		},
	}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("DecodeEnroll =\n%+v\nwant\n%+v", req, want)
	}
}

func TestDecodeEnrollMinimal(t *testing.T) {
	req, err := DecodeEnroll(strings.NewReader(`{"token":"t","inventory":{"hostname":"h"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if req.Inventory.Mode != patchgate.ModeAutomatic {
		t.Errorf("Mode = %q, want the default %q", req.Inventory.Mode, patchgate.ModeAutomatic)
	}
}

func TestDecodeCheckinValid(t *testing.T) {
	req, err := DecodeCheckin(bytes.NewReader(encode(t, validCheckin())))
	if err != nil {
		t.Fatal(err)
	}
	if req.Inventory.Hostname != "web-01" || req.Inventory.Mode != patchgate.ModeManual || len(req.Inventory.Products) != 2 ||
		req.Inventory.Interval != 10*time.Minute || !reflect.DeepEqual(req.Inventory.RebootPending, []string{"HF-2"}) {
		t.Errorf("DecodeCheckin = %+v", req)
	}
	// Pretty-printed and surrounded by whitespace is fine.
	b, _ := json.MarshalIndent(validCheckin(), "", "  ")
	if _, err := DecodeCheckin(bytes.NewReader(append(append([]byte("\n \t"), b...), "\r\n"...))); err != nil {
		t.Errorf("indented body: %v", err)
	}
}

func TestDecodeEventsValid(t *testing.T) {
	m := validEvents()
	ev(m, 1)["state"] = "failed"
	ev(m, 1)["exit_code"] = 1603
	ev(m, 1)["time"] = "2026-03-01T14:00:00+02:00"
	req, err := DecodeEvents(bytes.NewReader(encode(t, m)))
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Events) != 2 {
		t.Fatalf("events = %+v", req.Events)
	}
	e0, e1 := req.Events[0], req.Events[1]
	if e0.ID != "ev-1" || e0.Type != patchgate.EventDeployment || e0.UpdateID != "HF-1" || e0.State != patchgate.StateInstalling ||
		!e0.Time.Equal(evTime) || e0.Detail != "running installer" {
		t.Errorf("event 0 = %+v", e0)
	}
	if e1.State != patchgate.StateFailed || e1.ExitCode != 1603 || !e1.Time.Equal(evTime) {
		t.Errorf("event 1 = %+v", e1)
	}
}

func TestDecodeEventsEveryState(t *testing.T) {
	for _, s := range []patchgate.DeploymentState{patchgate.StateDownloading, patchgate.StateInstalling, patchgate.StateInstalled,
		patchgate.StateFailed, patchgate.StateRebootPending, patchgate.StateNotApplicable, patchgate.StateNeeded} {
		m := validEvents()
		ev(m, 0)["state"] = string(s)
		if _, err := DecodeEvents(bytes.NewReader(encode(t, m))); err != nil {
			t.Errorf("state %q: %v", s, err)
		}
	}
}

type decodeCase struct {
	name  string
	body  []byte
	code  patchgate.Code
	field string
	msg   string // a substring of the message
}

func runDecodeCases(t *testing.T, decode func(io.Reader) error, cases []decodeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := asError(t, decode(bytes.NewReader(tc.body)))
			code := tc.code
			if code == "" {
				code = patchgate.CodeInvalid
			}
			if e.Code != code {
				t.Errorf("code = %q, want %q (%v)", e.Code, code, e)
			}
			if e.Field != tc.field {
				t.Errorf("field = %q, want %q (%v)", e.Field, tc.field, e)
			}
			if !strings.Contains(e.Message, tc.msg) {
				t.Errorf("message %q does not mention %q", e.Message, tc.msg)
			}
		})
	}
}

// mod returns the JSON of base after f changed it.
func mod(t *testing.T, base func() map[string]any, f func(m map[string]any)) []byte {
	m := base()
	f(m)
	return encode(t, m)
}

// bodyCases are the framing errors every decoder shares.
func bodyCases(t *testing.T, valid []byte) []decodeCase {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	big := cat(valid, bytes.Repeat([]byte(" "), MaxBodyBytes+1-len(valid)))
	return []decodeCase{
		{name: "empty body", body: nil, field: "body", msg: "empty"},
		{name: "whitespace only", body: []byte("  \n"), field: "body", msg: "empty"},
		{name: "not JSON", body: []byte("token=abc"), field: "body", msg: "malformed JSON"},
		{name: "truncated", body: valid[:len(valid)-1], field: "body"},
		{name: "array", body: []byte(`[1]`), field: "", msg: "expected"},
		{name: "trailing object", body: cat(valid, []byte(` {}`)), field: "body", msg: "unexpected data"},
		{name: "trailing garbage", body: cat(valid, []byte(`x`)), field: "body"},
		{name: "trailing bracket", body: cat(valid, []byte(`]`)), field: "body"},
		{name: "trailing brace", body: cat(valid, []byte(`}`)), field: "body"},
		{name: "trailing comma", body: cat(valid, []byte(`,`)), field: "body"},
		{name: "oversized", body: big, code: patchgate.CodeTooLarge, field: "body", msg: fmt.Sprint(MaxBodyBytes)},
		{name: "oversized garbage", body: bytes.Repeat([]byte("x"), 2*MaxBodyBytes), code: patchgate.CodeTooLarge, field: "body"},
	}
}

func TestDecodeEnrollInvalid(t *testing.T) {
	valid := encode(t, validEnroll())
	m := func(f func(m map[string]any)) []byte { return mod(t, validEnroll, f) }
	products := func(n int) []any {
		ps := make([]any, n)
		for i := range ps {
			ps[i] = map[string]any{"name": fmt.Sprintf("p%d", i), "version": "1"}
		}
		return ps
	}
	ids := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = fmt.Sprintf("U%d", i)
		}
		return out
	}
	cases := append(bodyCases(t, valid), []decodeCase{
		{name: "unknown field", body: m(func(m map[string]any) { m["tokne"] = "x" }), field: "tokne", msg: "unknown field"},
		{name: "unknown inventory field", body: m(func(m map[string]any) { inv(m)["ip"] = "10.0.0.1" }), field: "ip", msg: "unknown field"},
		{name: "unknown product field", body: m(func(m map[string]any) {
			inv(m)["products"] = []any{map[string]any{"name": "a", "version": "1", "vendor": "x"}}
		}), field: "vendor", msg: "unknown field"},
		{name: "host_id from the client", body: m(func(m map[string]any) { m["host_id"] = "h1" }), field: "host_id"},
		{name: "groups from the client", body: m(func(m map[string]any) { inv(m)["groups"] = []any{"prod"} }), field: "groups"},
		{name: "wrong type", body: m(func(m map[string]any) { m["token"] = 5 }), field: "token", msg: "string"},
		{name: "wrong nested type", body: m(func(m map[string]any) { inv(m)["interval"] = "10m" }), field: "inventory.interval"},
		{name: "missing token", body: m(func(m map[string]any) { delete(m, "token") }), field: "token", msg: "required"},
		{name: "token with newline", body: m(func(m map[string]any) { m["token"] = "a\nb" }), field: "token", msg: "control"},
		{name: "token too long", body: m(func(m map[string]any) { m["token"] = strings.Repeat("t", MaxStringLen+1) }), field: "token"},
		{name: "machine id with NUL", body: m(func(m map[string]any) { m["machine_id"] = "a\x00" }), field: "machine_id"},
		{name: "machine id too long", body: m(func(m map[string]any) { m["machine_id"] = strings.Repeat("m", MaxStringLen+1) }), field: "machine_id"},
		{name: "missing inventory", body: m(func(m map[string]any) { delete(m, "inventory") }), field: "inventory.hostname", msg: "required"},
		{name: "missing hostname", body: m(func(m map[string]any) { delete(inv(m), "hostname") }), field: "inventory.hostname", msg: "required"},
		{name: "hostname with escape", body: m(func(m map[string]any) { inv(m)["hostname"] = "web\x1b[2J" }), field: "inventory.hostname", msg: "control"},
		{name: "hostname too long", body: m(func(m map[string]any) { inv(m)["hostname"] = strings.Repeat("h", MaxStringLen+1) }), field: "inventory.hostname"},
		{name: "os with DEL", body: m(func(m map[string]any) { inv(m)["os"] = "linux\x7f" }), field: "inventory.os"},
		{name: "arch with tab", body: m(func(m map[string]any) { inv(m)["arch"] = "amd\t64" }), field: "inventory.arch"},
		{name: "agent too long", body: m(func(m map[string]any) { inv(m)["agent"] = strings.Repeat("a", MaxStringLen+1) }), field: "inventory.agent"},
		{name: "invalid mode", body: m(func(m map[string]any) { inv(m)["mode"] = "auto" }), field: "inventory.mode", msg: "auto"},
		{name: "mode in capitals", body: m(func(m map[string]any) { inv(m)["mode"] = "Manual" }), field: "inventory.mode"},
		{name: "invalid product name", body: m(func(m map[string]any) {
			inv(m)["products"] = []any{map[string]any{"name": "ok", "version": "1"}, map[string]any{"name": "Bad Name", "version": "1"}}
		}), field: "inventory.products[1].name", msg: "Bad Name"},
		{name: "empty product name", body: m(func(m map[string]any) { inv(m)["products"] = []any{map[string]any{"version": "1"}} }), field: "inventory.products[0].name"},
		{name: "empty product version", body: m(func(m map[string]any) { inv(m)["products"] = []any{map[string]any{"name": "a"}} }), field: "inventory.products[0].version"},
		{name: "product version with space", body: m(func(m map[string]any) {
			inv(m)["products"] = []any{map[string]any{"name": "a", "version": "1.0 beta"}}
		}), field: "inventory.products[0].version"},
		{name: "product version with operator", body: m(func(m map[string]any) {
			inv(m)["products"] = []any{map[string]any{"name": "a", "version": ">=1.0"}}
		}), field: "inventory.products[0].version"},
		{name: "too many products", body: m(func(m map[string]any) { inv(m)["products"] = products(MaxProducts + 1) }), field: "inventory.products"},
		{name: "invalid installed id", body: m(func(m map[string]any) { inv(m)["installed"] = []any{"HF-1", "HF 2"} }), field: "inventory.installed[1]", msg: "HF 2"},
		{name: "empty installed id", body: m(func(m map[string]any) { inv(m)["installed"] = []any{""} }), field: "inventory.installed[0]"},
		{name: "installed id with slash", body: m(func(m map[string]any) { inv(m)["installed"] = []any{"../x"} }), field: "inventory.installed[0]"},
		{name: "too many installed", body: m(func(m map[string]any) { inv(m)["installed"] = ids(MaxInstalled + 1) }), field: "inventory.installed"},
		{name: "invalid reboot-pending id", body: m(func(m map[string]any) { inv(m)["reboot_pending"] = []any{"-x"} }), field: "inventory.reboot_pending[0]"},
		{name: "too many reboot-pending", body: m(func(m map[string]any) { inv(m)["reboot_pending"] = ids(MaxInstalled + 1) }), field: "inventory.reboot_pending"},
		{name: "negative interval", body: m(func(m map[string]any) { inv(m)["interval"] = -1 }), field: "inventory.interval"},
		{name: "interval over 31 days", body: m(func(m map[string]any) { inv(m)["interval"] = int64(31*24*time.Hour) + 1 }), field: "inventory.interval"},
	}...)
	runDecodeCases(t, func(r io.Reader) error { _, err := DecodeEnroll(r); return err }, cases)
}

func TestDecodeCheckinInvalid(t *testing.T) {
	valid := encode(t, validCheckin())
	m := func(f func(m map[string]any)) []byte { return mod(t, validCheckin, f) }
	cases := append(bodyCases(t, valid), []decodeCase{
		{name: "token in a check-in", body: m(func(m map[string]any) { m["token"] = "x" }), field: "token", msg: "unknown field"},
		{name: "plan from the client", body: m(func(m map[string]any) { m["plan"] = map[string]any{} }), field: "plan"},
		{name: "unknown inventory field", body: m(func(m map[string]any) { inv(m)["kernel"] = "6.1" }), field: "kernel"},
		{name: "empty object", body: []byte(`{}`), field: "inventory.hostname", msg: "required"},
		{name: "invalid mode", body: m(func(m map[string]any) { inv(m)["mode"] = "off" }), field: "inventory.mode"},
		{name: "invalid product name", body: m(func(m map[string]any) { inv(m)["products"] = []any{map[string]any{"name": "A", "version": "1"}} }), field: "inventory.products[0].name"},
		{name: "invalid product version", body: m(func(m map[string]any) {
			inv(m)["products"] = []any{map[string]any{"name": "a", "version": strings.Repeat("1", 129)}}
		}), field: "inventory.products[0].version"},
		{name: "invalid installed id", body: m(func(m map[string]any) { inv(m)["installed"] = []any{"ok", "ok", "n\u00f6"} }), field: "inventory.installed[2]"},
		{name: "interval as a string", body: m(func(m map[string]any) { inv(m)["interval"] = "1h" }), field: "inventory.interval"},
	}...)
	runDecodeCases(t, func(r io.Reader) error { _, err := DecodeCheckin(r); return err }, cases)
}

func TestDecodeEventsInvalid(t *testing.T) {
	valid := encode(t, validEvents())
	m := func(f func(m map[string]any)) []byte { return mod(t, validEvents, f) }
	events := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = validEvent(fmt.Sprintf("e%d", i))
		}
		return out
	}
	cases := append(bodyCases(t, valid), []decodeCase{
		{name: "no events", body: []byte(`{"events":[]}`), field: "events", msg: "empty"},
		{name: "missing events", body: []byte(`{}`), field: "events", msg: "empty"},
		{name: "null events", body: []byte(`{"events":null}`), field: "events"},
		{name: "too many events", body: m(func(m map[string]any) { m["events"] = events(MaxEventsPerReq + 1) }), field: "events", msg: fmt.Sprint(MaxEventsPerReq)},
		{name: "unknown field", body: m(func(m map[string]any) { m["host"] = "h1" }), field: "host", msg: "unknown field"},
		{name: "unknown event field", body: m(func(m map[string]any) { ev(m, 0)["severity"] = "high" }), field: "severity", msg: "unknown field"},
		{name: "missing id", body: m(func(m map[string]any) { delete(ev(m, 0), "id") }), field: "events[0].id"},
		{name: "invalid id", body: m(func(m map[string]any) { ev(m, 1)["id"] = "ev 2" }), field: "events[1].id", msg: "ev 2"},
		{name: "type update.added", body: m(func(m map[string]any) { ev(m, 0)["type"] = patchgate.EventUpdateAdded }), field: "events[0].type", msg: "deployment"},
		{name: "type approval.set", body: m(func(m map[string]any) { ev(m, 1)["type"] = patchgate.EventApproved }), field: "events[1].type"},
		{name: "type host.enrolled", body: m(func(m map[string]any) { ev(m, 0)["type"] = patchgate.EventHostEnrolled }), field: "events[0].type"},
		{name: "missing type", body: m(func(m map[string]any) { delete(ev(m, 0), "type") }), field: "events[0].type"},
		{name: "type in capitals", body: m(func(m map[string]any) { ev(m, 0)["type"] = "Deployment" }), field: "events[0].type"},
		{name: "missing update id", body: m(func(m map[string]any) { delete(ev(m, 0), "update_id") }), field: "events[0].update_id"},
		{name: "invalid update id", body: m(func(m map[string]any) { ev(m, 1)["update_id"] = "HF/1" }), field: "events[1].update_id"},
		{name: "state unknown", body: m(func(m map[string]any) { ev(m, 0)["state"] = "unknown" }), field: "events[0].state", msg: "unknown"},
		{name: "state bogus", body: m(func(m map[string]any) { ev(m, 0)["state"] = "exploded" }), field: "events[0].state"},
		{name: "missing state", body: m(func(m map[string]any) { delete(ev(m, 0), "state") }), field: "events[0].state"},
		{name: "state in capitals", body: m(func(m map[string]any) { ev(m, 0)["state"] = "INSTALLED" }), field: "events[0].state"},
		{name: "missing time", body: m(func(m map[string]any) { delete(ev(m, 1), "time") }), field: "events[1].time", msg: "required"},
		{name: "zero time", body: m(func(m map[string]any) { ev(m, 0)["time"] = "0001-01-01T00:00:00Z" }), field: "events[0].time"},
		{name: "malformed time", body: m(func(m map[string]any) { ev(m, 0)["time"] = "yesterday" }), field: "body"},
		{name: "detail too long", body: m(func(m map[string]any) { ev(m, 0)["detail"] = strings.Repeat("d", MaxDetailLen+1) }), field: "events[0].detail"},
		{name: "seq set by the client", body: m(func(m map[string]any) { ev(m, 0)["seq"] = 7 }), field: "events[0]", msg: "server"},
		{name: "actor set by the client", body: m(func(m map[string]any) { ev(m, 1)["actor"] = "admin" }), field: "events[1]", msg: "server"},
		{name: "host_id set by the client", body: m(func(m map[string]any) { ev(m, 0)["host_id"] = "other-host" }), field: "events[0]", msg: "server"},
		{name: "negative seq", body: m(func(m map[string]any) { ev(m, 0)["seq"] = -1 }), field: "events[0]"},
	}...)
	runDecodeCases(t, func(r io.Reader) error { _, err := DecodeEvents(r); return err }, cases)
}

func TestDecodeEventsLimits(t *testing.T) {
	m := validEvents()
	evs := make([]any, MaxEventsPerReq)
	for i := range evs {
		evs[i] = validEvent(fmt.Sprintf("e%d", i))
	}
	m["events"] = evs
	if req, err := DecodeEvents(bytes.NewReader(encode(t, m))); err != nil || len(req.Events) != MaxEventsPerReq {
		t.Errorf("%d events: %d decoded, %v", MaxEventsPerReq, len(req.Events), err)
	}
	m = validEvents()
	ev(m, 0)["detail"] = strings.Repeat("d", MaxDetailLen)
	if _, err := DecodeEvents(bytes.NewReader(encode(t, m))); err != nil {
		t.Errorf("detail of %d bytes: %v", MaxDetailLen, err)
	}
}

func TestDecodeInventoryLimits(t *testing.T) {
	m := validCheckin()
	ps := make([]any, MaxProducts)
	for i := range ps {
		ps[i] = map[string]any{"name": fmt.Sprintf("p%d", i), "version": "1"}
	}
	inv(m)["products"] = ps
	inv(m)["hostname"] = strings.Repeat("h", MaxStringLen)
	inv(m)["interval"] = int64(31 * 24 * time.Hour)
	if _, err := DecodeCheckin(bytes.NewReader(encode(t, m))); err != nil {
		t.Errorf("inventory at the limits: %v", err)
	}
}

// TestDecodeSizeLimit: a body of exactly MaxBodyBytes is read, one byte
// more is refused, and an endless body is not read to its end.
func TestDecodeSizeLimit(t *testing.T) {
	valid := encode(t, validCheckin())
	exact := append(append([]byte{}, valid...), bytes.Repeat([]byte("\n"), MaxBodyBytes-len(valid))...)
	if _, err := DecodeCheckin(bytes.NewReader(exact)); err != nil {
		t.Errorf("body of exactly %d bytes: %v", MaxBodyBytes, err)
	}
	_, err := DecodeCheckin(bytes.NewReader(append(exact, '\n')))
	if e := asError(t, err); e.Code != patchgate.CodeTooLarge {
		t.Errorf("body of %d bytes: %v", MaxBodyBytes+1, err)
	}
	r := &endless{}
	_, err = DecodeEnroll(r)
	if e := asError(t, err); e.Code != patchgate.CodeTooLarge {
		t.Errorf("endless body: %v", err)
	}
	if r.n > MaxBodyBytes+1 {
		t.Errorf("read %d bytes of an endless body, want at most %d", r.n, MaxBodyBytes+1)
	}
}

type endless struct{ n int }

func (r *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	r.n += len(p)
	return len(p), nil
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestDecodeReadError(t *testing.T) {
	for name, decode := range map[string]func(io.Reader) error{
		"enroll":  func(r io.Reader) error { _, err := DecodeEnroll(r); return err },
		"checkin": func(r io.Reader) error { _, err := DecodeCheckin(r); return err },
		"events":  func(r io.Reader) error { _, err := DecodeEvents(r); return err },
	} {
		e := asError(t, decode(failingReader{}))
		if e.Code != patchgate.CodeInvalid || e.Field != "body" {
			t.Errorf("%s: read error gives %#v", name, e)
		}
	}
}

// TestValidateInventoryDeterministic: with several bad fields, the error
// always names the same one.
func TestValidateInventoryDeterministic(t *testing.T) {
	for range 100 {
		in := patchgate.Inventory{Hostname: "h\x01", OS: "o\x01", Arch: "a\x01", Agent: "g\x01"}
		err := ValidateInventory(&in)
		if e := asError(t, err); e.Field != "inventory.hostname" {
			t.Fatalf("field = %q, want inventory.hostname (the first field)", e.Field)
		}
	}
}

func TestValidIDAndSHA256(t *testing.T) {
	for _, s := range []string{"a", "HF-1", "SR:2026.01", "ev_1+2", strings.Repeat("x", 128)} {
		if !ValidID(s) {
			t.Errorf("ValidID(%q) = false", s)
		}
	}
	for _, s := range []string{"", "-a", ".a", "a b", "a/b", "a\n", strings.Repeat("x", 129)} {
		if ValidID(s) {
			t.Errorf("ValidID(%q) = true", s)
		}
	}
	if !ValidSHA256(strings.Repeat("0a", 32)) {
		t.Error("ValidSHA256 refuses a lowercase sha256")
	}
	for _, s := range []string{"", strings.Repeat("0A", 32), strings.Repeat("0a", 31), strings.Repeat("0a", 32) + "0", strings.Repeat("zz", 32)} {
		if ValidSHA256(s) {
			t.Errorf("ValidSHA256(%q) = true", s)
		}
	}
}

func TestDecodeError(t *testing.T) {
	tests := []struct {
		status int
		body   string
		code   patchgate.Code
		msg    string
	}{
		{404, `{"code":"not_found","message":"no such host"}`, patchgate.CodeNotFound, "no such host"},
		{401, `{"code":"unauthorized","message":"bad credential"}`, patchgate.CodeUnauthorized, "bad credential"},
		{502, `<html>Bad Gateway</html>`, patchgate.CodeInternal, "502"},
		{500, ``, patchgate.CodeInternal, "500"},
		{400, `{"message":"no code"}`, patchgate.CodeInternal, "no code"},
		{400, `{"code":"invalid","message":"x"} trailing`, patchgate.CodeInternal, "400"},
	}
	for _, tc := range tests {
		e := DecodeError(tc.status, strings.NewReader(tc.body))
		if e == nil || e.Code != tc.code || !strings.Contains(e.Error(), tc.msg) {
			t.Errorf("DecodeError(%d, %q) = %#v, want code %q mentioning %q", tc.status, tc.body, e, tc.code, tc.msg)
		}
	}
	// Long bodies are cut.
	e := DecodeError(500, strings.NewReader(strings.Repeat("x", 1<<20)))
	if len(e.Message) > 65<<10 {
		t.Errorf("DecodeError kept %d bytes of the body", len(e.Message))
	}
}

// checkDecodeError is what every fuzz target asserts about errors.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	var e *patchgate.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *patchgate.Error", err, err)
	}
	if e.Code != patchgate.CodeInvalid && e.Code != patchgate.CodeTooLarge {
		t.Fatalf("error code %q: %v", e.Code, err)
	}
}

// checkInventory re-checks an accepted inventory against the validators.
func checkInventory(t *testing.T, in patchgate.Inventory) {
	t.Helper()
	cp := in
	if err := ValidateInventory(&cp); err != nil {
		t.Fatalf("accepted inventory does not validate: %v", err)
	}
	if !reflect.DeepEqual(cp, in) {
		t.Fatalf("accepted inventory changes when validated again:\n%+v\n%+v", in, cp)
	}
	if !in.Mode.Valid() {
		t.Fatalf("accepted mode %q", in.Mode)
	}
	if in.Hostname == "" || len(in.Hostname) > MaxStringLen {
		t.Fatalf("accepted hostname %q", in.Hostname)
	}
	for _, p := range in.Products {
		if !patchgate.ValidProductName(p.Name) || patchgate.ValidVersion(p.Version) != nil {
			t.Fatalf("accepted product %+v", p)
		}
	}
	for _, id := range append(append([]string{}, in.Installed...), in.RebootPending...) {
		if !ValidID(id) {
			t.Fatalf("accepted update id %q", id)
		}
	}
}

// roundTrip re-encodes an accepted request and decodes it again: it must be
// accepted and encode the same.
func roundTrip[T any](t *testing.T, req T, decode func(io.Reader) (T, error)) {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	again, err := decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("re-decoding %s: %v", b, err)
	}
	b2, err := json.Marshal(again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Fatalf("round trip changed the request:\n%s\n%s", b, b2)
	}
}

func FuzzDecodeEnroll(f *testing.F) {
	f.Add(encode(f, validEnroll()))
	f.Add([]byte(`{"token":"t","inventory":{"hostname":"h"}}`))
	f.Add([]byte(`{"token":"t","inventory":{"hostname":"h","mode":"bogus"}}`))
	f.Add([]byte(`{"token":"t","inventory":{"hostname":"h"}}]`))
	f.Add([]byte(`{"Token":"t","INVENTORY":{"hostname":"h","products":[{"name":"a","version":"1:2.0~rc1-3"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeEnroll(bytes.NewReader(data))
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if req.Token == "" || checkString("token", req.Token, MaxStringLen) != nil || checkString("machine_id", req.MachineID, MaxStringLen) != nil {
			t.Fatalf("accepted token %q machine id %q", req.Token, req.MachineID)
		}
		checkInventory(t, req.Inventory)
		roundTrip(t, req, DecodeEnroll)
	})
}

func FuzzDecodeCheckin(f *testing.F) {
	f.Add(encode(f, validCheckin()))
	f.Add([]byte(`{"inventory":{"hostname":"h","installed":["A","B"],"reboot_pending":["C"],"interval":3600000000000}}`))
	f.Add([]byte(`{"inventory":{"hostname":"h","products":[{"name":"a","version":"7.2(1)"}]}} `))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeCheckin(bytes.NewReader(data))
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		checkInventory(t, req.Inventory)
		roundTrip(t, req, DecodeCheckin)
	})
}

func FuzzDecodeEvents(f *testing.F) {
	f.Add(encode(f, validEvents()))
	f.Add([]byte(`{"events":[{"id":"e","time":"2026-01-01T00:00:00Z","type":"deployment","update_id":"u","state":"failed","exit_code":1}]}`))
	f.Add([]byte(`{"events":[{"id":"e","time":"2026-01-01T00:00:00+01:00","type":"deployment","update_id":"u","state":"needed","seq":1}]}`))
	f.Add([]byte(`{"events":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeEvents(bytes.NewReader(data))
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if len(req.Events) == 0 || len(req.Events) > MaxEventsPerReq {
			t.Fatalf("accepted %d events", len(req.Events))
		}
		for _, e := range req.Events {
			if !ValidID(e.ID) || !ValidID(e.UpdateID) || e.Type != patchgate.EventDeployment || e.Time.IsZero() ||
				len(e.Detail) > MaxDetailLen || e.Seq != 0 || e.Actor != "" || e.HostID != "" {
				t.Fatalf("accepted event %+v", e)
			}
			switch e.State {
			case patchgate.StateDownloading, patchgate.StateInstalling, patchgate.StateInstalled, patchgate.StateFailed,
				patchgate.StateRebootPending, patchgate.StateNotApplicable, patchgate.StateNeeded:
			default:
				t.Fatalf("accepted state %q", e.State)
			}
		}
		roundTrip(t, req, DecodeEvents)
	})
}

// TestDecodeEventsPlanRefused: an agent reports a refused check-in answer
// as an event without update or state; anything else on it is refused.
func TestDecodeEventsPlanRefused(t *testing.T) {
	refused := func(mod func(e map[string]any)) []byte {
		e := map[string]any{"id": "ev-9", "type": patchgate.EventPlanRefused, "time": "2026-03-01T12:00:00Z",
			"detail": "check-in refused: plan signature: the plan does not verify"}
		if mod != nil {
			mod(e)
		}
		return encode(t, map[string]any{"events": []any{e}})
	}
	req, err := DecodeEvents(bytes.NewReader(refused(nil)))
	if err != nil || len(req.Events) != 1 || req.Events[0].Type != patchgate.EventPlanRefused {
		t.Fatalf("a plan refusal: %+v, %v", req.Events, err)
	}
	for name, mod := range map[string]func(e map[string]any){
		"with an update": func(e map[string]any) { e["update_id"] = "HF-1" },
		"with a state":   func(e map[string]any) { e["state"] = "failed" },
		"without detail": func(e map[string]any) { delete(e, "detail") },
		"without time":   func(e map[string]any) { delete(e, "time") },
		"with a host":    func(e map[string]any) { e["host_id"] = "h-2" },
	} {
		if _, err := DecodeEvents(bytes.NewReader(refused(mod))); patchgate.ErrorCode(err) != patchgate.CodeInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

package agentapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
)

func newClient(t *testing.T, h http.HandlerFunc) (*agentapi.Client, *httptest.Server) {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &agentapi.Client{BaseURL: ts.URL + "/", HTTP: ts.Client(), UserAgent: "test-agent/1"}, ts
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

var testInventory = patchgate.Inventory{Hostname: "web-1", OS: "linux", Arch: "amd64", Mode: patchgate.ModeAutomatic,
	Products: []patchgate.InstalledProduct{{Name: "openssl", Version: "3.0.11"}}, Installed: []string{}, Interval: time.Hour}

func TestEnroll(t *testing.T) {
	c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != agentapi.PathEnroll || r.Header.Get("Authorization") != "" ||
			r.Header.Get("User-Agent") != "test-agent/1" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s %v", r.Method, r.URL.Path, r.Header)
		}
		req, err := agentapi.DecodeEnroll(r.Body)
		if err != nil {
			t.Errorf("decode: %v", err)
		}
		if req.Token != "pge.x.y" {
			answer(w, 401, agentapi.ErrorBody{Code: patchgate.CodeUnauthorized, Message: "invalid enrolment token"})
			return
		}
		answer(w, 201, agentapi.EnrollResponse{HostID: "h1", Credential: "pgh.h1.secret", Groups: []string{"all"}})
	})
	ctx := context.Background()
	er, err := c.Enroll(ctx, agentapi.EnrollRequest{Token: "pge.x.y", Inventory: testInventory, MachineID: "m"})
	if err != nil || er.HostID != "h1" || er.Credential != "pgh.h1.secret" {
		t.Fatalf("%+v %v", er, err)
	}
	_, err = c.Enroll(ctx, agentapi.EnrollRequest{Token: "wrong", Inventory: testInventory})
	var pe *patchgate.Error
	if !errors.As(err, &pe) || pe.Code != patchgate.CodeUnauthorized || pe.Message != "invalid enrolment token" || agentapi.HTTPStatus(err) != 401 {
		t.Fatalf("err %v (%T), status %d", err, err, agentapi.HTTPStatus(err))
	}
}

func TestEnrollRefusesBadAnswers(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"bad host id": func(w http.ResponseWriter, r *http.Request) {
			answer(w, 201, agentapi.EnrollResponse{HostID: "../x", Credential: "c"})
		},
		"no credential": func(w http.ResponseWriter, r *http.Request) {
			answer(w, 201, agentapi.EnrollResponse{HostID: "h1"})
		},
		"too large": func(w http.ResponseWriter, r *http.Request) {
			answer(w, 201, agentapi.EnrollResponse{HostID: "h1", Credential: "c", Groups: []string{strings.Repeat("g", agentapi.MaxEnrollResponse)}})
		},
		"not json": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) },
	} {
		c, _ := newClient(t, h)
		if _, err := c.Enroll(context.Background(), agentapi.EnrollRequest{Token: "t", Inventory: testInventory}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCheckin(t *testing.T) {
	const etag = `"abc"`
	c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != agentapi.PathCheckin || r.Header.Get("Authorization") != "Bearer cred" {
			answer(w, 401, agentapi.ErrorBody{Code: patchgate.CodeUnauthorized, Message: "unknown host credential"})
			return
		}
		if _, err := agentapi.DecodeCheckin(r.Body); err != nil {
			t.Errorf("decode: %v", err)
		}
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		answer(w, 200, agentapi.CheckinResponse{Plan: patchgate.Plan{HostID: "h1", Items: []patchgate.PlanItem{{UpdateID: "u1"}}}})
	})
	ctx := context.Background()
	req := agentapi.CheckinRequest{Inventory: testInventory}
	cr, got, nm, err := c.Checkin(ctx, "cred", "", req)
	if err != nil || nm || got != etag || len(cr.Plan.Items) != 1 || cr.Plan.HostID != "h1" {
		t.Fatalf("first: %+v %q %v %v", cr, got, nm, err)
	}
	cr, got, nm, err = c.Checkin(ctx, "cred", etag, req)
	if err != nil || !nm || got != etag || len(cr.Plan.Items) != 0 {
		t.Fatalf("second: %+v %q %v %v", cr, got, nm, err)
	}
	_, _, _, err = c.Checkin(ctx, "other", etag, req)
	if patchgate.ErrorCode(err) != patchgate.CodeUnauthorized || agentapi.HTTPStatus(err) != 401 {
		t.Fatalf("bad credential: %v", err)
	}
}

func TestReportEvents(t *testing.T) {
	c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		req, err := agentapi.DecodeEvents(r.Body)
		if err != nil {
			answer(w, 400, agentapi.ErrorBody{Code: patchgate.CodeInvalid, Message: err.Error()})
			return
		}
		answer(w, 200, agentapi.EventsResponse{Accepted: len(req.Events) - 1})
	})
	ev := patchgate.Event{ID: "e1", Time: time.Now().UTC(), Type: patchgate.EventDeployment, UpdateID: "u1", State: patchgate.StateInstalled}
	ev2 := ev
	ev2.ID = "e2"
	n, err := c.ReportEvents(context.Background(), "cred", []patchgate.Event{ev, ev2})
	if err != nil || n != 1 {
		t.Fatalf("%d %v", n, err)
	}
	ev.State = "bogus"
	_, err = c.ReportEvents(context.Background(), "cred", []patchgate.Event{ev})
	if patchgate.ErrorCode(err) != patchgate.CodeInvalid || agentapi.HTTPStatus(err) != 400 || !strings.Contains(err.Error(), "state") {
		t.Fatalf("%v", err)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestDownload(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10000)
	sum := sha(data)
	var mode atomic.Value
	mode.Store("")
	c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != agentapi.PathContent+sum {
			answer(w, 404, agentapi.ErrorBody{Code: patchgate.CodeNotFound, Message: "no such content"})
			return
		}
		switch mode.Load() {
		case "ignore-range":
			r.Header.Del("Range")
		case "bad-range":
			w.Header().Set("Content-Range", "bytes 5-99999/100000")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[5:])
			return
		case "cut":
			w.Header().Set("Content-Length", "100000")
			w.WriteHeader(200)
			w.Write(data[:40000])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	})
	ctx := context.Background()
	var buf bytes.Buffer
	n, total, err := c.Download(ctx, "cred", sum, 0, &buf)
	if err != nil || n != int64(len(data)) || total != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("full: %d %d %v", n, total, err)
	}
	for _, m := range []string{"", "ignore-range"} {
		mode.Store(m)
		buf.Reset()
		n, total, err = c.Download(ctx, "cred", sum, 1234, &buf)
		if err != nil || n != int64(len(data)-1234) || total != int64(len(data)) || !bytes.Equal(buf.Bytes(), data[1234:]) {
			t.Fatalf("resume (%q): %d %d %v", m, n, total, err)
		}
	}
	mode.Store("bad-range")
	if _, _, err = c.Download(ctx, "cred", sum, 1234, &buf); !errors.Is(err, agentapi.ErrBadContentRange) {
		t.Fatalf("bad range: %v", err)
	}
	mode.Store("cut")
	buf.Reset()
	n, total, err = c.Download(ctx, "cred", sum, 0, &buf)
	if err == nil || n != 40000 || total != 100000 || agentapi.HTTPStatus(err) != 0 {
		t.Fatalf("cut: %d %d %v", n, total, err)
	}
	mode.Store("")
	_, _, err = c.Download(ctx, "cred", sha([]byte("other")), 0, &buf)
	if patchgate.ErrorCode(err) != patchgate.CodeNotFound || agentapi.HTTPStatus(err) != 404 {
		t.Fatalf("missing: %v", err)
	}
	_, _, err = c.Download(ctx, "cred", "../../etc/passwd", 0, &buf)
	if patchgate.ErrorCode(err) != patchgate.CodeInvalid {
		t.Fatalf("bad sha: %v", err)
	}
	_, _, err = c.Download(ctx, "cred", sum, int64(len(data)+10), &buf)
	if agentapi.HTTPStatus(err) != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("past the end: %v", err)
	}
}

func TestNoRedirects(t *testing.T) {
	var followed atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followed.Add(1)
		answer(w, 201, agentapi.EnrollResponse{HostID: "h1", Credential: "c"})
	}))
	defer elsewhere.Close()
	c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	_, err := c.Enroll(context.Background(), agentapi.EnrollRequest{Token: "t", Inventory: testInventory})
	if err == nil || followed.Load() != 0 || agentapi.HTTPStatus(err) != http.StatusTemporaryRedirect {
		t.Fatalf("err %v, followed %d", err, followed.Load())
	}
	if c.HTTP.CheckRedirect != nil {
		t.Fatal("the caller's client was modified")
	}
}

func TestNetworkError(t *testing.T) {
	c, ts := newClient(t, func(w http.ResponseWriter, r *http.Request) {})
	ts.Close()
	_, _, _, err := c.Checkin(context.Background(), "cred", "", agentapi.CheckinRequest{Inventory: testInventory})
	if err == nil || agentapi.HTTPStatus(err) != 0 {
		t.Fatalf("%v", err)
	}
	var pe *patchgate.Error
	if errors.As(err, &pe) {
		t.Fatalf("a network error posing as a server answer: %v", err)
	}
}

func TestErrorBodyNotJSON(t *testing.T) {
	c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	})
	_, err := c.ReportEvents(context.Background(), "cred", nil)
	if patchgate.ErrorCode(err) != patchgate.CodeInternal || agentapi.HTTPStatus(err) != 502 || !strings.Contains(err.Error(), "bad gateway") {
		t.Fatalf("%v", err)
	}
}

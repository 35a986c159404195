package agentapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestParseWait(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, true},
		{"1", time.Second, true},
		{"300", 5 * time.Minute, true},
		{"0", 0, false},
		{"-1", 0, false},
		{"301", 0, false},
		{"05", 0, false},
		{"+5", 0, false},
		{"5s", 0, false},
		{"1e2", 0, false},
		{"99999999999999999999", 0, false},
	} {
		got, err := ParseWait(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseWait(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func FuzzParseWait(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseWait(s)
		if err != nil {
			return
		}
		if s == "" {
			if d != 0 {
				t.Fatalf("empty gave %v", d)
			}
			return
		}
		if d < time.Second || d > MaxWait || strconv.Itoa(int(d/time.Second)) != s {
			t.Fatalf("ParseWait(%q) = %v", s, d)
		}
	})
}

// TestCheckinWaitQuery: a held check-in sends the wait in whole seconds,
// capped at MaxWait, through the long-poll client; an ordinary one sends
// none.
func TestCheckinWaitQuery(t *testing.T) {
	got := make(chan string, 4)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.RawQuery
		w.WriteHeader(http.StatusNotModified)
	}))
	defer hs.Close()
	used := 0
	lp := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used++
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := &Client{BaseURL: hs.URL, HTTP: &http.Client{Timeout: time.Second}, LongPollHTTP: lp}
	ctx := context.Background()
	for _, w := range []time.Duration{0, 1500 * time.Millisecond, time.Hour} {
		if _, _, nm, err := c.CheckinWait(ctx, "cred", `"e"`, w, CheckinRequest{}); err != nil || !nm {
			t.Fatalf("wait %v: %v %v", w, nm, err)
		}
	}
	for _, want := range []string{"", "wait=1", "wait=300"} {
		if q := <-got; q != want {
			t.Errorf("query %q, want %q", q, want)
		}
	}
	if used != 2 {
		t.Errorf("the long-poll client carried %d requests, want 2", used)
	}
	if hc := c.httpFor(time.Minute); hc.Timeout != 0 {
		t.Errorf("a long-poll client without timeout got %v", hc.Timeout)
	}
	c.LongPollHTTP = nil
	if hc := c.httpFor(time.Minute); hc.Timeout != time.Second+time.Minute+HoldGrace {
		t.Errorf("held request timeout %v", hc.Timeout)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

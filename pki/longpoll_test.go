package pki

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestWithResponseHeaderTimeout(t *testing.T) {
	c := NewInsecureHTTPClient(time.Minute)
	lp := WithResponseHeaderTimeout(c, 6*time.Minute)
	got := lp.Transport.(schemeOnly)
	orig := c.Transport.(schemeOnly)
	if got.next.ResponseHeaderTimeout != 6*time.Minute || got.scheme != "http" || lp.Timeout != time.Minute {
		t.Errorf("long-poll client: %v %q %v", got.next.ResponseHeaderTimeout, got.scheme, lp.Timeout)
	}
	if orig.next.ResponseHeaderTimeout != responseHeaderTimeout || got.next == orig.next {
		t.Error("the original client was changed or shares its transport")
	}
	pinned, err := NewHTTPClient(strings.Repeat("ab", 32), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p := WithResponseHeaderTimeout(pinned, time.Hour).Transport.(schemeOnly)
	if p.scheme != "https" || p.next.DialTLSContext == nil || p.next.Proxy != nil || p.next.ResponseHeaderTimeout != time.Hour {
		t.Error("the pinned client lost its pinning, gained a proxy or kept its header timeout")
	}
	other := &http.Client{}
	if WithResponseHeaderTimeout(other, time.Hour) != other {
		t.Error("a foreign client was changed")
	}
}

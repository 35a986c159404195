package server

import (
	"testing"
	"time"
)

func TestHoldHubLimits(t *testing.T) {
	h := &holdHub{max: 3}
	for i, c := range []struct {
		host string
		ok   bool
	}{{"a", true}, {"b", true}, {"a", true}, {"c", false}} {
		if got := h.begin(c.host); got != c.ok {
			t.Fatalf("begin %d (%s) = %v, want %v", i, c.host, got, c.ok)
		}
	}
	h.end("b")
	if !h.begin("c") || h.held.Load() != 3 {
		t.Fatalf("after end: held %d", h.held.Load())
	}
	h.end("a")
	h.end("a")
	h.end("c")
	if h.held.Load() != 0 || len(h.perHost) != 0 {
		t.Errorf("held %d, per host %v", h.held.Load(), h.perHost)
	}
	h.release()
	if h.begin("a") {
		t.Error("a check-in held after release")
	}
}

// TestHoldHubWake: one broadcast wakes every waiter and arms a new
// channel; deadlines share one channel per second.
func TestHoldHubWake(t *testing.T) {
	h := &holdHub{}
	w1, w2 := h.wait(), h.wait()
	if w1 != w2 {
		t.Fatal("waiters got different channels")
	}
	h.broadcast()
	for _, w := range []<-chan struct{}{w1, w2} {
		select {
		case <-w:
		default:
			t.Fatal("a waiter was not woken")
		}
	}
	if w3 := h.wait(); w3 == w1 {
		t.Fatal("no new channel after a broadcast")
	}
	// Half past a whole second, so that at and at-100ms share a second
	// whatever the time the test runs at.
	at := time.Now().Truncate(time.Second).Add(2500 * time.Millisecond)
	a, b := h.after(at), h.after(at.Add(-100*time.Millisecond))
	h.mu.Lock()
	n := len(h.buckets)
	h.mu.Unlock()
	if a != b || n != 1 {
		t.Errorf("deadlines in one second got %d buckets", n)
	}
	select {
	case <-a:
		if time.Now().Before(at) {
			t.Error("a deadline channel closed early")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a deadline channel never closed")
	}
}

//go:build !agentonly

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate/agentapi"
)

// TestAgentLongPollFlag: --long-poll defaults to the server's longest hold
// and gets a client that waits that long for an answer; 0 turns it off;
// other values outside 1s..5m are refused, naming the flag.
func TestAgentLongPollFlag(t *testing.T) {
	g := &globalOptions{Server: "http://127.0.0.1:1"}
	cmd := newAgentCmd(g)
	def, err := cmd.Flags().GetDuration("long-poll")
	if err != nil || def != agentapi.MaxWait {
		t.Fatalf("default --long-poll %v, %v; want %v", def, err, agentapi.MaxWait)
	}
	base := agentOptions{LogLevel: "info", Mode: "automatic", InstallTimeout: time.Hour, Interval: time.Hour, RebootTimeout: time.Minute}
	o := base
	o.LongPoll = def
	cfg, err := agentConfig(g, &o)
	if err != nil || cfg.LongPoll != def || cfg.LongPollClient == nil || cfg.LongPollClient == cfg.Client {
		t.Fatalf("config %+v, %v", cfg, err)
	}
	o.LongPoll = 0
	if cfg, err := agentConfig(g, &o); err != nil || cfg.LongPoll != 0 || cfg.LongPollClient != nil {
		t.Errorf("--long-poll 0: %+v, %v", cfg, err)
	}
	for _, bad := range []time.Duration{-time.Second, time.Millisecond, 6 * time.Minute} {
		o.LongPoll = bad
		if _, err := agentConfig(g, &o); err == nil || !strings.Contains(err.Error(), "--long-poll") {
			t.Errorf("--long-poll %v: %v", bad, err)
		}
	}
}

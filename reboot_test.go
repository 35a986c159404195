package patchgate

import (
	"slices"
	"strings"
	"testing"
)

func TestDecideReboot(t *testing.T) {
	tests := []struct {
		name    string
		in      RebootInput
		reboot  bool
		guarded []string
		reason  string // part of the reason
	}{
		{"nothing to do", RebootInput{Command: true}, false, nil, "no reboot needed"},
		{"pending, default policy", RebootInput{Pending: []string{"U1"}, Command: true}, true, nil, "if-required: U1 need a reboot"},
		{"pending, if-required", RebootInput{Policy: RebootPolicyIfRequired, Pending: []string{"U2", "U1"}, Command: true}, true, nil, "U1, U2"},
		{"pending, always", RebootInput{Policy: RebootPolicyAlways, Pending: []string{"U1"}, Command: true}, true, nil, "always: U1"},
		{"changed without need, if-required", RebootInput{Policy: RebootPolicyIfRequired, Changed: true, Command: true}, false, nil, "no reboot needed"},
		{"changed without need, always", RebootInput{Policy: RebootPolicyAlways, Changed: true, Command: true}, true, nil, "always: this cycle changed"},
		{"always, nothing changed", RebootInput{Policy: RebootPolicyAlways, Command: true}, false, nil, "no reboot needed"},
		{"always without a command", RebootInput{Policy: RebootPolicyAlways, Changed: true}, false, nil, "no reboot command"},
		{"never, pending", RebootInput{Policy: RebootPolicyNever, Pending: []string{"U1"}, Changed: true, Command: true}, false, nil, "never: U1 stay reboot-pending"},
		{"never, nothing pending", RebootInput{Policy: RebootPolicyNever, Command: true}, false, nil, "never"},
		{"no command: wait for an operator", RebootInput{Pending: []string{"U1"}}, false, nil, "waiting for an operator"},
		{"manual host", RebootInput{Pending: []string{"U1"}, Command: true, Manual: true}, false, nil, "manual"},
		{"an unknown policy counts as the default", RebootInput{Policy: "weekly", Pending: []string{"U1"}, Command: true}, true, nil, "if-required"},
		{"one reboot made: try again", RebootInput{Pending: []string{"U1"}, Attempts: map[string]int{"U1": 1}, Command: true}, true, nil, "U1"},
		{"loop guard: pending after two reboots", RebootInput{Pending: []string{"U1"}, Attempts: map[string]int{"U1": 2}, Command: true}, false, []string{"U1"}, "loop guard: rebooted 2 times"},
		{"loop guard: failed after two reboots", RebootInput{Pending: []string{"U2"}, Failed: []string{"U1"}, Attempts: map[string]int{"U1": 2}, Command: true},
			false, []string{"U1"}, "not rebooting again"},
		{"loop guard holds the host for every update", RebootInput{Pending: []string{"U1", "U3"}, Attempts: map[string]int{"U3": 5, "U1": 1}, Command: true},
			false, []string{"U3"}, "U3"},
		{"loop guard under always", RebootInput{Policy: RebootPolicyAlways, Changed: true, Failed: []string{"U1"}, Attempts: map[string]int{"U1": 2}, Command: true},
			false, []string{"U1"}, "loop guard"},
		{"a failure after fewer reboots does not guard", RebootInput{Pending: []string{"U2"}, Failed: []string{"U1"}, Attempts: map[string]int{"U1": 1}, Command: true},
			true, nil, "U2"},
		{"a failure after two reboots, nothing else to reboot for", RebootInput{Failed: []string{"U1"}, Attempts: map[string]int{"U1": 2}, Command: true}, false, []string{"U1"}, "loop guard"},
		{"a failure without reboots before", RebootInput{Failed: []string{"U1"}, Command: true}, false, nil, "no reboot needed"},
		{"never beats the guard's message", RebootInput{Policy: RebootPolicyNever, Pending: []string{"U1"}, Attempts: map[string]int{"U1": 2}, Command: true}, false, nil, "never"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := DecideReboot(tc.in)
			if d.Reboot != tc.reboot || !slices.Equal(d.Guarded, tc.guarded) || !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("got %+v, want reboot=%v guarded=%v reason containing %q", d, tc.reboot, tc.guarded, tc.reason)
			}
		})
	}
}

package agent

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/patchgate/patchgate/atomicfile"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/patchgate/patchgate"
)

// The state directory (created 0700):
//
//	identity.json   who this host is to the server (0600)
//	state.json      installed updates, reboot-pending, journal, last ETag (0600)
//	machine-id      random machine id, only when the OS has none
//	state.lock      held (flock) while an agent works on the directory
//	outbox/         one file per event until the server acknowledged it
//	staging/        downloads: <sha256>.part while incomplete, <sha256> verified
//	work/           the running installer's private working directory
//	tuf/<repo>/     trusted TUF root and metadata per signing repository (trust.go)
//
// Every file is written atomically: temp file, fsync, rename, fsync of the
// directory.
const (
	identityFile  = "identity.json"
	stateFile     = "state.json"
	machineIDFile = "machine-id"
	lockFile      = "state.lock"
	outboxDir     = "outbox"
	stagingDir    = "staging"
	workDir       = "work"

	maxStateBytes = 16 << 20
)

// identity is what enrolment gave this host.
type identity struct {
	HostID     string    `json:"host_id"`
	Credential string    `json:"credential"`
	Server     string    `json:"server"`
	MachineID  string    `json:"machine_id"`
	Hostname   string    `json:"hostname"`
	EnrolledAt time.Time `json:"enrolled_at"`
	// PlanKey is the server's plan key (agentapi.EncodePlanKey), pinned
	// at enrolment or learned once (plansig.go).
	PlanKey string `json:"plan_key,omitempty"`
}

// Journal steps: the one in state.json is the step that was started and
// has not finished. It is written durably before the step's side effect.
const (
	stepDownloading = "downloading"
	stepInstalling  = "installing"
)

type journal struct {
	UpdateID string           `json:"update_id"`
	Action   patchgate.Action `json:"action"`
	Step     string           `json:"step"`
	Started  time.Time        `json:"started"`
}

// state is what the agent knows about its host between runs.
type state struct {
	// Installed lists every update this agent installed, including those
	// waiting for a reboot, so that they are not offered again.
	Installed []string `json:"installed"`
	// RebootPending is the subset of Installed waiting for a reboot;
	// BootID is the boot during which they were installed.
	RebootPending []string `json:"reboot_pending,omitempty"`
	BootID        string   `json:"boot_id,omitempty"`
	Journal       *journal `json:"journal,omitempty"`
	// LastETag is the ETag of the last plan carried out in full; it is
	// cleared when an item failed, so the next check-in gets the whole
	// plan again and retries.
	LastETag string `json:"last_etag,omitempty"`
	// RebootPolicy is the host's policy from the last plan.
	RebootPolicy patchgate.RebootPolicy `json:"reboot_policy,omitempty"`
	// RebootAttempts counts, per update, the reboots made for it in a row
	// (the loop guard, patchgate.DecideReboot); an update is forgotten
	// once it is neither planned, pending nor failed. RebootBootID is the
	// boot the last reboot command ran in.
	RebootAttempts map[string]int `json:"reboot_attempts,omitempty"`
	RebootBootID   string         `json:"reboot_boot_id,omitempty"`
	// RebootGuarded lists the updates the loop guard has reported, so
	// that it says so once.
	RebootGuarded []string `json:"reboot_guarded,omitempty"`
}

func (s *state) setInstalled(id string, installed bool) {
	s.Installed = slices.DeleteFunc(s.Installed, func(x string) bool { return x == id })
	s.RebootPending = slices.DeleteFunc(s.RebootPending, func(x string) bool { return x == id })
	if installed {
		s.Installed = append(s.Installed, id)
		slices.Sort(s.Installed)
	}
}

func (s *state) setRebootPending(id, bootID string) {
	if !slices.Contains(s.RebootPending, id) {
		s.RebootPending = append(s.RebootPending, id)
		slices.Sort(s.RebootPending)
	}
	s.BootID = bootID
}

func (a *Agent) path(name ...string) string {
	return filepath.Join(append([]string{a.cfg.StateDir}, name...)...)
}

// readJSON decodes a state file; ok is false when it does not exist.
func readJSON(path string, v any) (ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStateBytes+1))
	if err != nil {
		return false, err
	}
	if len(data) > maxStateBytes {
		return false, fmt.Errorf("%s is larger than %d bytes", path, maxStateBytes)
	}
	if err := json.Unmarshal(data, v); err != nil {
		// Never start afresh silently: a lost installed list would make
		// the server offer everything again.
		return false, fmt.Errorf("%s is corrupt (%v): repair or remove it", path, err)
	}
	return true, nil
}

func (a *Agent) loadIdentity() (*identity, error) {
	var id identity
	ok, err := readJSON(a.path(identityFile), &id)
	if err != nil || !ok {
		return nil, err
	}
	if id.HostID == "" || id.Credential == "" {
		return nil, fmt.Errorf("%s has no host id or credential: re-enrol", a.path(identityFile))
	}
	return &id, nil
}

func (a *Agent) saveIdentity(id *identity) error {
	return writeJSONAtomic(a.path(identityFile), id)
}

func (a *Agent) loadState() (*state, error) {
	var st state
	if _, err := readJSON(a.path(stateFile), &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func (a *Agent) saveState(st *state) error {
	if err := writeJSONAtomic(a.path(stateFile), st); err != nil {
		return fmt.Errorf("cannot record state durably: %w", err)
	}
	return nil
}

func writeJSONAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(data, '\n'), 0o600)
}

// randomHex returns n random bytes, hex-encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go ≥ 1.24)
	return hex.EncodeToString(b)
}

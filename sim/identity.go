package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/patchgate/patchgate/agentapi"
)

// Identity is one line of the identity file: an enrolled virtual host.
type Identity struct {
	HostID     string `json:"host_id"`
	Credential string `json:"credential"`
	Template   string `json:"template"`
	Hostname   string `json:"hostname,omitempty"`
	// Installed is what the host had installed when the last run ended,
	// ETag the ETag of the last plan it carried out (as the agent keeps
	// them in its state dir).
	Installed []string `json:"installed,omitempty"`
	ETag      string   `json:"etag,omitempty"`
}

const maxIdentityLine = 1 << 20

// loadIdentities reads the identity file; a missing file is empty.
func loadIdentities(path string) ([]Identity, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []Identity
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxIdentityLine)
	seen := map[string]bool{}
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var id Identity
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&id); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		if !agentapi.ValidID(id.HostID) || id.Credential == "" || id.Template == "" {
			return nil, fmt.Errorf("%s:%d: host_id, credential and template are required", path, line)
		}
		for _, u := range id.Installed {
			if !agentapi.ValidID(u) {
				return nil, fmt.Errorf("%s:%d: invalid installed update id %q", path, line, u)
			}
		}
		if seen[id.HostID] {
			return nil, fmt.Errorf("%s:%d: host %s listed twice", path, line, id.HostID)
		}
		seen[id.HostID] = true
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return ids, nil
}

// identityLog appends identities as hosts enrol, one write per line, so
// that an interrupted run loses no credential.
type identityLog struct {
	mu sync.Mutex
	f  *os.File
}

func openIdentityLog(path string) (*identityLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &identityLog{f: f}, nil
}

func (l *identityLog) append(id Identity) error {
	data, err := json.Marshal(id)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err = l.f.Write(append(data, '\n'))
	return err
}

func (l *identityLog) close() error {
	err := l.f.Sync()
	return errors.Join(err, l.f.Close())
}

// writeIdentities replaces the identity file atomically.
func writeIdentities(path string, ids []Identity) error {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	for _, id := range ids {
		if err := enc.Encode(id); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

package trust

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// PlanKeyFile is the plan-signing key's file in the data directory. The
// plan key (an online Ed25519 key, not a TUF role) signs each answer to an
// agent's check-in, bound to the agent's nonce (agentapi.SignPlan).
const PlanKeyFile = "plan-key.json"

// OpenPlanKey reads the plan key at path, or creates it (mode 0600) when
// there is none; created says which. A key file readable by others is
// refused rather than used.
func OpenPlanKey(path string) (k ed25519.PrivateKey, created bool, err error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		k, err := GenerateKey()
		if err != nil {
			return nil, false, err
		}
		if err := WriteKeyFile(path, k); err != nil {
			return nil, false, fmt.Errorf("creating the plan key: %w", err)
		}
		return k, true, nil
	case err != nil:
		return nil, false, err
	case fi.Mode().Perm()&0o077 != 0:
		return nil, false, fmt.Errorf("%s: mode %v lets others read the plan key: chmod 600 it", path, fi.Mode().Perm())
	}
	k, err = ReadKeyFile(path)
	return k, false, err
}

// Package trust signs and verifies patchgate's catalog metadata with TUF
// (The Update Framework, go-tuf v2): the server side keeps a repository of
// the updates it publishes (root, targets, snapshot, timestamp), the agent
// side verifies payloads against it. It never imports server/ or agent/.
package trust

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/patchgate/patchgate/atomicfile"
	"os"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// keyFile is the on-disk form of an ed25519 private key (mode 0600).
type keyFile struct {
	KeyType string `json:"keytype"`
	KeyID   string `json:"keyid"`
	Public  string `json:"public"`
	Private string `json:"private"` // hex of the 64-byte ed25519 private key
}

// GenerateKey returns a new ed25519 key.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	return priv, err
}

// PublicKey is the TUF form of k's public half.
func PublicKey(k ed25519.PrivateKey) *metadata.Key {
	key, err := metadata.KeyFromPublicKey(k.Public())
	if err != nil {
		panic(err) // ed25519 is always supported
	}
	return key
}

// KeyID is the TUF key id of k's public half.
func KeyID(k ed25519.PrivateKey) string {
	id, err := PublicKey(k).ID()
	if err != nil {
		panic(err)
	}
	return id
}

func signer(k ed25519.PrivateKey) signature.Signer {
	s, err := signature.LoadSigner(k, crypto.Hash(0))
	if err != nil {
		panic(err)
	}
	return s
}

// WriteKeyFile writes k to path with mode 0600; it never overwrites.
func WriteKeyFile(path string, k ed25519.PrivateKey) error {
	data, err := json.MarshalIndent(keyFile{KeyType: "ed25519", KeyID: KeyID(k),
		Public: hex.EncodeToString(k.Public().(ed25519.PublicKey)), Private: hex.EncodeToString(k)}, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadKeyFile reads a key written by WriteKeyFile and checks it.
func ReadKeyFile(path string) (ed25519.PrivateKey, error) {
	data, err := atomicfile.ReadLimited(path, 64<<10)
	if err != nil {
		return nil, err
	}
	var kf keyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, fmt.Errorf("%s: not a patchgate key file: %v", path, err)
	}
	if kf.KeyType != "ed25519" {
		return nil, fmt.Errorf("%s: keytype %q, want ed25519", path, kf.KeyType)
	}
	priv, err := hex.DecodeString(kf.Private)
	if err != nil || len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%s: private: not a hex ed25519 private key", path)
	}
	k := ed25519.PrivateKey(priv)
	if hex.EncodeToString(k.Public().(ed25519.PublicKey)) != kf.Public {
		return nil, fmt.Errorf("%s: public does not match private", path)
	}
	return k, nil
}

// Fingerprint is the root fingerprint: lowercase hex sha256 of the exact
// bytes of 1.root.json.
func Fingerprint(root1 []byte) string {
	sum := sha256.Sum256(root1)
	return hex.EncodeToString(sum[:])
}

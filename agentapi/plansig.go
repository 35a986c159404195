package agentapi

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"github.com/patchgate/patchgate"
)

// Signed plans (issue #8). The agent sends a fresh random nonce with each
// check-in (HeaderNonce); the server signs its answer with its plan key
// (an Ed25519 key delivered at enrolment, EnrollResponse.PlanKey) and
// returns the signature in HeaderPlanSignature. The signed message binds
// the nonce, the host id, the ETag and, for a 200 answer, the sha256 of
// the exact response body (PlanMessage): an altered plan, another host's
// plan, or an answer recorded earlier (a 200 or a 304, whose nonce was
// another) does not verify. The nonce is a header, not part of the body,
// so that the server's "not modified" fast path, which compares the body
// with the last one, still applies.
const (
	// HeaderNonce carries the agent's nonce: 16 to 64 lowercase hex
	// characters.
	HeaderNonce = "X-Patchgate-Nonce"
	// HeaderPlanSignature carries the server's signature of the answer:
	// the standard base64 of the 64-byte Ed25519 signature of PlanMessage.
	HeaderPlanSignature = "X-Patchgate-Plan-Signature"
	// PathPlanKey (GET, host credential) returns the server's plan key
	// (PlanKeyResponse) to agents enrolled before plans were signed.
	PathPlanKey = "/agent/v1/plan-key"

	MinNonceLen = 16
	MaxNonceLen = 64
)

// ErrPlanSignature is the cause of every refusal of a check-in answer
// whose signature is missing or does not verify.
var ErrPlanSignature = errors.New("plan signature")

// PlanKeyResponse is the answer of PathPlanKey.
type PlanKeyResponse struct {
	PlanKey string `json:"plan_key"`
}

// planContext separates plan signatures from anything else the key could
// ever sign.
const planContext = "patchgate plan signature v1"

// Kinds of signed answer.
const (
	planKindPlan        = "plan"         // 200 with a plan body
	planKindNotModified = "not-modified" // 304
)

// ValidNonce checks a nonce as the server receives it.
func ValidNonce(s string) error {
	if len(s) < MinNonceLen || len(s) > MaxNonceLen {
		return patchgate.Invalid(HeaderNonce, "must be %d to %d lowercase hex characters, not %d characters", MinNonceLen, MaxNonceLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return patchgate.Invalid(HeaderNonce, "must be lowercase hex characters, not %q at position %d", c, i)
		}
	}
	return nil
}

// NewNonce returns a fresh random nonce (16 bytes, 32 hex characters).
func NewNonce() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return hex.EncodeToString(b[:])
}

// PlanMessage is the message the plan key signs for a check-in answer:
// for a 200 (notModified false) the nonce, host id, ETag and the sha256
// of the exact body; for a 304 the nonce, host id and ETag. Every field
// is length-prefixed, so no two different inputs give the same message.
func PlanMessage(notModified bool, nonce, hostID, etag string, bodySHA256 []byte) []byte {
	kind := planKindPlan
	if notModified {
		kind, bodySHA256 = planKindNotModified, nil
	}
	n := len(planContext) + 1 + 5*4 + len(kind) + len(nonce) + len(hostID) + len(etag) + len(bodySHA256)
	msg := make([]byte, 0, n)
	msg = append(msg, planContext...)
	msg = append(msg, 0)
	for _, f := range [][]byte{[]byte(kind), []byte(nonce), []byte(hostID), []byte(etag), bodySHA256} {
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(f)))
		msg = append(msg, f...)
	}
	return msg
}

// SignPlan returns the HeaderPlanSignature value for an answer; body is
// nil for a 304.
func SignPlan(key ed25519.PrivateKey, notModified bool, nonce, hostID, etag string, body []byte) string {
	var sum []byte
	if !notModified {
		s := sha256.Sum256(body)
		sum = s[:]
	}
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, PlanMessage(notModified, nonce, hostID, etag, sum)))
}

// VerifyPlan checks the HeaderPlanSignature value sig of an answer to the
// check-in that sent nonce. Its errors wrap ErrPlanSignature.
func VerifyPlan(key ed25519.PublicKey, sig string, notModified bool, nonce, hostID, etag string, body []byte) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: no valid plan key to verify with", ErrPlanSignature)
	}
	if sig == "" {
		return fmt.Errorf("%w: the answer is not signed (no %s)", ErrPlanSignature, HeaderPlanSignature)
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return fmt.Errorf("%w: %s is not a base64 Ed25519 signature", ErrPlanSignature, HeaderPlanSignature)
	}
	var sum []byte
	if !notModified {
		s := sha256.Sum256(body)
		sum = s[:]
	}
	if !ed25519.Verify(key, PlanMessage(notModified, nonce, hostID, etag, sum), raw) {
		what := "plan"
		if notModified {
			what = "not-modified answer"
		}
		return fmt.Errorf("%w: the %s does not verify with the pinned plan key (altered, replayed, for another host, or signed by another key)", ErrPlanSignature, what)
	}
	return nil
}

// EncodePlanKey is the wire form of a plan key: standard base64.
func EncodePlanKey(k ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(k)
}

// ParsePlanKey decodes EncodePlanKey's form; field names the source in
// the error.
func ParsePlanKey(field, s string) (ed25519.PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	// Canonical form only (the decoder skips newlines and ignores
	// padding bits): one key, one spelling.
	if err != nil || len(raw) != ed25519.PublicKeySize || base64.StdEncoding.EncodeToString(raw) != s {
		return nil, patchgate.Invalid(field, "must be the standard base64 of a %d-byte Ed25519 public key", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// planCheck checks the answer of a check-in made with nonce against key
// (when key is set).
type planCheck struct {
	key    ed25519.PublicKey
	hostID string
	nonce  string
}

func (pc planCheck) verify(resp *http.Response, notModified bool, etag string, body []byte) error {
	if pc.key == nil {
		return nil
	}
	return VerifyPlan(pc.key, resp.Header.Get(HeaderPlanSignature), notModified, pc.nonce, pc.hostID, etag, body)
}

// PlanKey asks the server for its plan key with the host credential (for
// an agent enrolled before plans were signed). A server that predates
// signed plans answers 404 (HTTPStatus).
func (c *Client) PlanKey(ctx context.Context, credential string) (ed25519.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(PathPlanKey), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req, credential)
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	if resp.StatusCode/100 != 2 {
		return nil, statusError(resp)
	}
	var pk PlanKeyResponse
	if err := decodeAnswer(resp, 4<<10, &pk); err != nil {
		return nil, err
	}
	return ParsePlanKey("plan_key", pk.PlanKey)
}

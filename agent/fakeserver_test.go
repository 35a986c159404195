package agent

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
)

// fakeServer implements the agent API (enrol, check-in, events, content)
// over real HTTP on loopback, decoding what the agent sends with the same
// strict agentapi decoders the real server uses.
type fakeServer struct {
	t  *testing.T
	ts *httptest.Server

	mu          sync.Mutex
	token       string
	enrolls     []agentapi.EnrollRequest
	creds       map[string]string // credential -> host id
	rejectCreds bool

	items  []patchgate.PlanItem // offered by install state (see plan)
	manual bool
	// rebootPolicy goes into every plan; reoffer offers install items
	// even when installed (a server that keeps asking for an update).
	rebootPolicy patchgate.RebootPolicy
	reoffer      bool
	checkins     []patchgate.Inventory
	notMod       int

	content     map[string][]byte // sha256 -> served bytes
	contentHook func(w http.ResponseWriter, r *http.Request, sha string, call int) bool
	contentReqs []string // Range header of each content request
	contentCall int

	eventsMode string // "" ok, "down": 503, "lost-ack": store then drop the connection
	events     []patchgate.Event
	receipts   map[string]int // event id -> times received

	// Long polls: waits lists the wait of each check-in that asked for
	// one; with holding, a check-in whose ETag is current is held until
	// setItems or its wait ends, as the real server does.
	holding bool
	waits   []string
	held    int
	changed chan struct{}

	// Signed plans, as the real server does them: planKey is delivered at
	// enrolment (unless legacy: then only GET /agent/v1/plan-key has it,
	// and noPlanKey makes that 404 too); signKey signs the answers (nil =
	// planKey); answers records every check-in answer as sent; answer, if
	// set, may replace what is sent (tampering, replays).
	planKey   ed25519.PrivateKey
	signKey   ed25519.PrivateKey
	legacy    bool
	noPlanKey bool
	answers   []fakeAnswer
	answer    func(a fakeAnswer) fakeAnswer
}

// fakeAnswer is one answer to a check-in.
type fakeAnswer struct {
	nonce  string // the check-in's
	status int
	etag   string
	sig    string
	body   []byte
}

func newFakeServer(t *testing.T) *fakeServer {
	s := &fakeServer{t: t, token: "enrol-secret", creds: map[string]string{}, content: map[string][]byte{}, receipts: map[string]int{}}
	_, s.planKey, _ = ed25519.GenerateKey(rand.Reader)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+agentapi.PathEnroll, s.enroll)
	mux.HandleFunc("POST "+agentapi.PathCheckin, s.checkin)
	mux.HandleFunc("POST "+agentapi.PathEvents, s.postEvents)
	mux.HandleFunc("GET "+agentapi.PathPlanKey, s.servePlanKey)
	mux.HandleFunc("GET "+agentapi.PathContent+"{sha}", s.serveContent)
	s.ts = httptest.NewServer(mux)
	t.Cleanup(s.ts.Close)
	return s
}

func writeError(w http.ResponseWriter, status int, code patchgate.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(agentapi.ErrorBody{Code: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (s *fakeServer) enroll(w http.ResponseWriter, r *http.Request) {
	req, err := agentapi.DecodeEnroll(r.Body)
	if err != nil {
		s.t.Errorf("agent sent an invalid enrolment: %v", err)
		writeError(w, 400, patchgate.CodeInvalid, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.Token != s.token {
		writeError(w, 401, patchgate.CodeUnauthorized, "invalid enrolment token")
		return
	}
	s.enrolls = append(s.enrolls, req)
	hostID := fmt.Sprintf("h-%d", len(s.enrolls))
	cred := randomHex(32)
	s.creds[cred] = hostID
	er := agentapi.EnrollResponse{HostID: hostID, Credential: cred, Groups: []string{patchgate.GroupAll}}
	if !s.legacy {
		er.PlanKey = agentapi.EncodePlanKey(s.planKey.Public().(ed25519.PublicKey))
	}
	writeJSON(w, er)
}

// auth returns the host of the request's credential.
func (s *fakeServer) auth(w http.ResponseWriter, r *http.Request) (string, bool) {
	cred, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	host, known := s.creds[cred]
	reject := s.rejectCreds
	s.mu.Unlock()
	if !ok || !known || reject {
		writeError(w, 401, patchgate.CodeUnauthorized, "unknown host credential")
		return "", false
	}
	return host, true
}

// plan offers each install item the host has not installed and each
// uninstall item it has.
func (s *fakeServer) plan(host string, inv patchgate.Inventory) patchgate.Plan {
	p := patchgate.Plan{HostID: host, Manual: s.manual, Items: []patchgate.PlanItem{}, RebootPolicy: s.rebootPolicy}
	for _, it := range s.items {
		has := slices.Contains(inv.Installed, it.UpdateID) && !(s.reoffer && it.Action == patchgate.ActionInstall)
		if (it.Action == patchgate.ActionUninstall) == has {
			p.Items = append(p.Items, it)
		}
	}
	return p
}

func (s *fakeServer) checkin(w http.ResponseWriter, r *http.Request) {
	host, ok := s.auth(w, r)
	if !ok {
		return
	}
	req, err := agentapi.DecodeCheckin(r.Body)
	if err != nil {
		s.t.Errorf("agent sent an invalid check-in: %v", err)
		writeError(w, 400, patchgate.CodeInvalid, err.Error())
		return
	}
	s.mu.Lock()
	s.checkins = append(s.checkins, req.Inventory)
	plan := s.plan(host, req.Inventory)
	data, _ := json.Marshal(plan)
	sum := sha256.Sum256(data)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	if wait := r.URL.Query().Get(agentapi.QueryWait); wait != "" {
		s.waits = append(s.waits, wait)
		d, err := agentapi.ParseWait(wait)
		if err != nil {
			s.mu.Unlock()
			writeError(w, 400, patchgate.CodeInvalid, err.Error())
			return
		}
		if s.holding && r.Header.Get("If-None-Match") == etag {
			if s.changed == nil {
				s.changed = make(chan struct{})
			}
			ch := s.changed
			s.held++
			s.mu.Unlock()
			select {
			case <-ch:
			case <-time.After(d):
			case <-r.Context().Done():
			}
			s.mu.Lock()
			s.held--
			plan = s.plan(host, req.Inventory)
			data, _ = json.Marshal(plan)
			sum = sha256.Sum256(data)
			etag = `"` + hex.EncodeToString(sum[:8]) + `"`
		}
	}
	ans := fakeAnswer{nonce: r.Header.Get(agentapi.HeaderNonce), status: http.StatusOK, etag: etag}
	if r.Header.Get("If-None-Match") == etag {
		s.notMod++
		ans.status = http.StatusNotModified
	} else {
		var buf bytes.Buffer
		json.NewEncoder(&buf).Encode(agentapi.CheckinResponse{Plan: plan, ServerTime: time.Now().UTC()})
		ans.body = buf.Bytes()
	}
	if ans.nonce != "" {
		if err := agentapi.ValidNonce(ans.nonce); err != nil {
			s.t.Errorf("agent sent an invalid nonce: %v", err)
		}
		key := s.planKey
		if s.signKey != nil {
			key = s.signKey
		}
		ans.sig = agentapi.SignPlan(key, ans.status == http.StatusNotModified, ans.nonce, host, etag, ans.body)
	}
	s.answers = append(s.answers, ans)
	if s.answer != nil {
		ans = s.answer(ans)
	}
	s.mu.Unlock()
	w.Header().Set("ETag", ans.etag)
	if ans.sig != "" {
		w.Header().Set(agentapi.HeaderPlanSignature, ans.sig)
	}
	if ans.status == http.StatusNotModified {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ans.status)
	w.Write(ans.body)
}

func (s *fakeServer) servePlanKey(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.auth(w, r); !ok {
		return
	}
	s.mu.Lock()
	none := s.noPlanKey
	s.mu.Unlock()
	if none {
		writeError(w, 404, patchgate.CodeNotFound, "not found")
		return
	}
	writeJSON(w, agentapi.PlanKeyResponse{PlanKey: agentapi.EncodePlanKey(s.planKey.Public().(ed25519.PublicKey))})
}

func (s *fakeServer) postEvents(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.auth(w, r); !ok {
		return
	}
	s.mu.Lock()
	mode := s.eventsMode
	s.mu.Unlock()
	if mode == "down" {
		writeError(w, 503, patchgate.CodeInternal, "database unavailable")
		return
	}
	req, err := agentapi.DecodeEvents(r.Body)
	if err != nil {
		s.t.Errorf("agent sent invalid events: %v", err)
		writeError(w, 400, patchgate.CodeInvalid, err.Error())
		return
	}
	s.mu.Lock()
	accepted := 0
	for _, e := range req.Events {
		s.receipts[e.ID]++
		if s.receipts[e.ID] == 1 {
			s.events = append(s.events, e)
			accepted++
		}
	}
	s.mu.Unlock()
	if mode == "lost-ack" {
		panic(http.ErrAbortHandler) // stored, but the agent never hears so
	}
	writeJSON(w, agentapi.EventsResponse{Accepted: accepted})
}

func (s *fakeServer) serveContent(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.auth(w, r); !ok {
		return
	}
	sha := r.PathValue("sha")
	s.mu.Lock()
	s.contentReqs = append(s.contentReqs, r.Header.Get("Range"))
	s.contentCall++
	call, hook := s.contentCall, s.contentHook
	data, ok := s.content[sha]
	s.mu.Unlock()
	if !ok {
		writeError(w, 404, patchgate.CodeNotFound, "no such content")
		return
	}
	if hook != nil && hook(w, r, sha, call) {
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// addPayload stores data as content and returns its payload.
func (s *fakeServer) addPayload(name string, data []byte, typ patchgate.InstallerType, args ...string) patchgate.Payload {
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	s.mu.Lock()
	s.content[sha] = data
	s.mu.Unlock()
	return patchgate.Payload{Name: name, Size: int64(len(data)), SHA256: sha, Installer: typ, Args: args}
}

func (s *fakeServer) setItems(items ...patchgate.PlanItem) {
	s.mu.Lock()
	s.items = items
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	s.mu.Unlock()
}

func (s *fakeServer) set(f func(s *fakeServer)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

func (s *fakeServer) eventList() []patchgate.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

func (s *fakeServer) lastCheckin() patchgate.Inventory {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.checkins) == 0 {
		s.t.Fatal("no check-in yet")
	}
	return s.checkins[len(s.checkins)-1]
}

func (s *fakeServer) enrollCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.enrolls)
}

package upstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
)

// FetchContent implements server.SyncService: it fetches sha from the
// upstream of a synced update that names it. Concurrent requests for the
// same content share one download; at most Parallel downloads run at once.
func (s *Syncer) FetchContent(ctx context.Context, sha string) error {
	_, err := s.fetch(ctx, sha)
	return err
}

func (s *Syncer) fetch(ctx context.Context, sha string) (int64, error) {
	if !agentapi.ValidSHA256(sha) {
		return 0, patchgate.Invalid("sha256", "must be 64 lowercase hex characters")
	}
	s.mu.Lock()
	if c, ok := s.fetching[sha]; ok {
		s.mu.Unlock()
		select {
		case <-c.done:
			return 0, c.err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	c := &fetchCall{done: make(chan struct{})}
	s.fetching[sha] = c
	s.mu.Unlock()
	// The download outlives a caller who gives up (an agent that
	// disconnects): others may wait for it, and a partial file resumes.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 6*time.Hour)
	go func() {
		defer cancel()
		c.bytes, c.err = s.download(dctx, sha)
		s.mu.Lock()
		delete(s.fetching, sha)
		s.mu.Unlock()
		close(c.done)
	}()
	select {
	case <-c.done:
		return c.bytes, c.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// download fetches sha into the partial directory, resuming a partial
// file with a Range request, checks its size and sha256, and stores it in
// the content store. It returns the bytes transferred.
func (s *Syncer) download(ctx context.Context, sha string) (int64, error) {
	if _, ok, err := s.cfg.Content.Has(sha); err != nil || ok {
		return 0, err
	}
	pays, err := s.cfg.Store.SyncedPayloads(ctx, sha)
	if err != nil {
		return 0, err
	}
	if len(pays) == 0 {
		return 0, patchgate.NotFound("content %s is not a payload of a synced update", sha)
	}
	p := pays[0]
	if p.Size <= 0 || p.Size > s.cfg.MaxPayloadBytes {
		return 0, patchgate.Invalid("size", "payload %s has size %d, outside 1..%d", sha, p.Size, s.cfg.MaxPayloadBytes)
	}
	up, err := s.cfg.Store.GetUpstream(ctx, p.Upstream)
	if err != nil {
		return 0, fmt.Errorf("content %s: %w", sha, err)
	}
	cl, err := newClient(up)
	if err != nil {
		return 0, err
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-s.sem }()

	if s.cfg.PartialDir == "" {
		return 0, errors.New("upstream: no directory for partial downloads")
	}
	if err := os.MkdirAll(s.cfg.PartialDir, 0o700); err != nil {
		return 0, err
	}
	part := filepath.Join(s.cfg.PartialDir, sha+".part")
	var transferred int64
	// Two attempts: a resume the upstream cannot honour starts over.
	for attempt := 0; attempt < 2; attempt++ {
		n, err := s.downloadOnce(ctx, cl, sha, p.Size, part)
		transferred += n
		if err == nil {
			break
		}
		if !errors.Is(err, errRestart) || attempt == 1 {
			return transferred, err
		}
		os.Remove(part)
	}
	if err := verifyAndStore(s, part, sha, p.Size); err != nil {
		return transferred, err
	}
	return transferred, nil
}

var errRestart = errors.New("partial download cannot be resumed")

func (s *Syncer) downloadOnce(ctx context.Context, cl *client, sha string, size int64, part string) (int64, error) {
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	have := fi.Size()
	if have > size {
		return 0, errRestart
	}
	if have == size {
		return 0, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cl.up.URL+agentapi.PathContent+sha, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+cl.up.Token)
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("upstream %s: content %s: %w", cl.up.Name, sha, unwrapURL(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		if !rangeStartsAt(resp.Header.Get("Content-Range"), have) {
			return 0, errRestart
		}
	case resp.StatusCode == http.StatusOK:
		if err := f.Truncate(0); err != nil {
			return 0, err
		}
		have = 0
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return 0, errRestart
	default:
		return 0, cl.errorFrom(resp)
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return 0, err
	}
	// One byte more than expected tells "too large" from "complete".
	n, err := io.Copy(f, io.LimitReader(resp.Body, size-have+1))
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if err != nil {
		return n, fmt.Errorf("upstream %s: content %s: %w (kept %d bytes to resume)", cl.up.Name, sha, err, have+n)
	}
	if have+n > size {
		return n, errRestart
	}
	if have+n < size {
		return n, fmt.Errorf("upstream %s: content %s: got %d of %d bytes (kept to resume)", cl.up.Name, sha, have+n, size)
	}
	return n, nil
}

// rangeStartsAt reports whether a Content-Range header starts at off.
func rangeStartsAt(h string, off int64) bool {
	var start, end, total int64
	if _, err := fmt.Sscanf(h, "bytes %d-%d/%d", &start, &end, &total); err != nil {
		return false
	}
	return start == off
}

// verifyAndStore checks the complete partial file against size and
// sha256 before it enters the content store; a mismatch discards it.
func verifyAndStore(s *Syncer, part, sha string, size int64) error {
	f, err := os.Open(part)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != size || got != sha {
		f.Close()
		os.Remove(part)
		return patchgate.Invalid("sha256", "content from upstream hashes to %s (%d bytes), expected %s (%d bytes): discarded", got, n, sha, size)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, _, err := s.cfg.Content.Put(f, sha, size); err != nil {
		return err
	}
	f.Close()
	if err := os.Remove(part); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Approved implements server.SyncService: the synced content of updates
// just approved for install is fetched in the background.
func (s *Syncer) Approved(ids []string) {
	s.mu.Lock()
	base := s.base
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for _, id := range ids {
			u, err := s.cfg.Store.GetUpdate(base, id)
			if err != nil {
				continue
			}
			for _, p := range u.Payloads {
				if _, err := s.fetch(base, p.SHA256); err != nil && !patchgate.IsNotFound(err) {
					s.log.Warn("fetching approved content", "update", id, "sha256", p.SHA256, "err", err)
				}
			}
		}
	}()
}

// fetchPending fetches the synced content this server should have and has
// not: every payload of immediate upstreams, and the payloads of updates
// approved for install from on-approval ones. With r, only r's upstream's,
// and the bytes count in r.
func (s *Syncer) fetchPending(ctx context.Context, r *run) error {
	ups, err := s.cfg.Store.Upstreams(ctx)
	if err != nil {
		return err
	}
	policy := map[string]patchgate.ContentPolicy{}
	for _, u := range ups {
		policy[u.Name] = u.Content
	}
	pays, err := s.cfg.Store.SyncedPayloads(ctx, "")
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed, firstErr := 0, error(nil)
	limit := make(chan struct{}, 2*s.cfg.Parallel)
	for _, p := range pays {
		if r != nil && p.Upstream != r.rec.Upstream {
			continue
		}
		pol, ok := policy[p.Upstream]
		if !ok || (pol != patchgate.ContentImmediate && !p.Approved) {
			continue
		}
		if _, have, err := s.cfg.Content.Has(p.SHA256); err != nil || have {
			continue
		}
		wg.Add(1)
		limit <- struct{}{}
		go func() {
			defer func() { <-limit; wg.Done() }()
			n, err := s.fetch(ctx, p.SHA256)
			if r != nil {
				r.mu.Lock()
				r.rec.Counts.Bytes += n
				r.mu.Unlock()
			}
			if err != nil {
				mu.Lock()
				failed++
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				s.log.Warn("fetching synced content", "sha256", p.SHA256, "err", err)
			}
		}()
	}
	wg.Wait()
	if failed > 0 {
		return fmt.Errorf("%d payload(s) could not be fetched, first: %v", failed, firstErr)
	}
	return nil
}

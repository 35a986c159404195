package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
)

// Downloads go to staging/<sha256>.part, resumed with an HTTP Range request
// after an interruption. Only when the whole file has the payload's size
// and sha256 is it renamed to staging/<sha256>, the one path an installer
// is given. A file that does not verify is deleted, never run.

const (
	downloadAttempts = 3
	// MaxPayloadSize bounds a payload the agent accepts to download.
	MaxPayloadSize = 64 << 30
)

// retryDelay is the pause before retrying an interrupted download (the
// tests shorten it).
var retryDelay = 2 * time.Second

// permanentError is a download failure that retrying now cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// fetch returns the path of the verified payload, downloading it as
// needed.
func (a *Agent) fetch(ctx context.Context, id *identity, p patchgate.Payload) (string, error) {
	final := a.path(stagingDir, p.SHA256)
	part := final + ".part"
	if _, err := os.Stat(final); err == nil {
		// Left by an interrupted run: use it only if it still verifies.
		if err := verify(final, p); err == nil {
			return final, nil
		}
		os.Remove(final)
	}
	var err error
	for attempt := 1; attempt <= downloadAttempts; attempt++ {
		if err = a.download(ctx, id, p, part); err == nil {
			break
		}
		var perm permanentError
		if errors.As(err, &perm) || ctx.Err() != nil || attempt == downloadAttempts {
			return "", err
		}
		a.log.Warn("download interrupted, resuming", "payload", p.Name, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(retryDelay * time.Duration(attempt)):
		}
	}
	if err := verify(part, p); err != nil {
		os.Remove(part)
		return "", err
	}
	if err := os.Rename(part, final); err != nil {
		return "", err
	}
	return final, nil
}

// download brings part up to the payload's size, resuming from what part
// already holds.
func (a *Agent) download(ctx context.Context, id *identity, p patchgate.Payload, part string) error {
	var off int64
	if fi, err := os.Stat(part); err == nil {
		off = fi.Size()
	}
	if off > p.Size {
		os.Remove(part)
		off = 0
	}
	if off == p.Size && off > 0 {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.server+agentapi.PathContent+p.SHA256, nil)
	if err != nil {
		return permanentError{err}
	}
	if off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	resp, err := a.do(req, id.Credential)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", p.Name, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && off > 0:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if ok && total >= 0 && total != p.Size {
			os.Remove(part)
			return sizeMismatch(p, total)
		}
		if !ok || start != off {
			os.Remove(part)
			return fmt.Errorf("downloading %s: server resumed at the wrong offset (%q)", p.Name, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK:
		off = 0 // the server sent the whole file
		if resp.ContentLength >= 0 && resp.ContentLength != p.Size {
			os.Remove(part)
			return sizeMismatch(p, resp.ContentLength)
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		os.Remove(part)
		return fmt.Errorf("downloading %s: server refused to resume; starting over", p.Name)
	default:
		e := a.serverError(resp, "downloading "+p.Name, true)
		if resp.StatusCode >= 500 {
			return e
		}
		return permanentError{e}
	}
	flags := os.O_WRONLY | os.O_CREATE
	if off == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(part, flags, 0o600)
	if err != nil {
		return permanentError{err}
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return permanentError{err}
	}
	want := p.Size - off
	n, copyErr := io.Copy(f, io.LimitReader(resp.Body, want+1))
	closeErr := f.Close()
	switch {
	case n > want:
		os.Remove(part)
		return permanentError{fmt.Errorf("payload %s: size mismatch: the server sent more than %d bytes; the file was deleted and never run", p.Name, p.Size)}
	case copyErr != nil:
		return fmt.Errorf("downloading %s: %w", p.Name, copyErr)
	case closeErr != nil:
		return permanentError{closeErr}
	case n < want:
		return fmt.Errorf("downloading %s: connection ended after %d of %d bytes", p.Name, off+n, p.Size)
	}
	return nil
}

// parseContentRange parses "bytes START-END/TOTAL"; total is -1 for "*".
func parseContentRange(h string) (start, total int64, ok bool) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, size, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	first, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	total = -1
	if size != "*" {
		if total, err = strconv.ParseInt(size, 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return start, total, true
}

func sizeMismatch(p patchgate.Payload, served int64) error {
	return permanentError{fmt.Errorf("payload %s: size mismatch: the server has %d bytes, the update says %d; the file was deleted and never run", p.Name, served, p.Size)}
}

// verify checks a file's size and sha256 against the payload.
func verify(path string, p patchgate.Payload) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if n != p.Size {
		return fmt.Errorf("payload %s: size mismatch: %d bytes, want %d; the file was deleted and never run", p.Name, n, p.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != p.SHA256 {
		return fmt.Errorf("payload %s: hash mismatch: sha256 is %s, want %s; the file was deleted and never run", p.Name, got, p.SHA256)
	}
	return nil
}

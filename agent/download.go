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

// mismatchError marks downloaded bytes that are not the payload's: more
// or fewer than its size by the server's own count, or another sha256.
type mismatchError struct{ err error }

func (e mismatchError) Error() string { return e.err.Error() }
func (e mismatchError) Unwrap() error { return e.err }

func isMismatch(err error) bool {
	var m mismatchError
	return errors.As(err, &m)
}

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
		return "", mismatchError{err}
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
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return permanentError{err}
	}
	if err := f.Truncate(off); err != nil {
		f.Close()
		return permanentError{err}
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return permanentError{err}
	}
	want := p.Size - off
	lw := &limitWriter{w: f, left: want}
	n, total, dlErr := a.api.Download(ctx, id.Credential, p.SHA256, off, lw)
	closeErr := f.Close()
	switch {
	case total >= 0 && total != p.Size:
		os.Remove(part)
		return sizeMismatch(p, total)
	case lw.over:
		os.Remove(part)
		return permanentError{mismatchError{fmt.Errorf("payload %s: size mismatch: the server sent more than %d bytes; the file was deleted and never run", p.Name, p.Size)}}
	case errors.Is(dlErr, agentapi.ErrBadContentRange):
		os.Remove(part)
		return fmt.Errorf("downloading %s: %w", p.Name, dlErr)
	case agentapi.HTTPStatus(dlErr) == http.StatusRequestedRangeNotSatisfiable:
		os.Remove(part)
		return fmt.Errorf("downloading %s: server refused to resume; starting over", p.Name)
	case agentapi.HTTPStatus(dlErr) != 0:
		e := a.serverError(dlErr, "downloading "+p.Name, true)
		if agentapi.HTTPStatus(dlErr) >= 500 {
			return e
		}
		return permanentError{e}
	case dlErr != nil:
		var pe *patchgate.Error
		if errors.As(dlErr, &pe) {
			return permanentError{fmt.Errorf("downloading %s: %w", p.Name, dlErr)}
		}
		return fmt.Errorf("downloading %s: %w", p.Name, dlErr)
	case closeErr != nil:
		return permanentError{closeErr}
	case n < want:
		return fmt.Errorf("downloading %s: connection ended after %d of %d bytes", p.Name, off+n, p.Size)
	}
	return nil
}

// limitWriter writes at most left bytes to w; over records that more came.
type limitWriter struct {
	w    io.Writer
	left int64
	over bool
}

var errTooLong = errors.New("more bytes than the payload's size")

func (l *limitWriter) Write(b []byte) (int, error) {
	if int64(len(b)) > l.left {
		l.over = true
		n, err := l.w.Write(b[:l.left])
		l.left -= int64(n)
		if err == nil {
			err = errTooLong
		}
		return n, err
	}
	n, err := l.w.Write(b)
	l.left -= int64(n)
	return n, err
}

func sizeMismatch(p patchgate.Payload, served int64) error {
	return permanentError{mismatchError{fmt.Errorf("payload %s: size mismatch: the server has %d bytes, the update says %d; the file was deleted and never run", p.Name, served, p.Size)}}
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

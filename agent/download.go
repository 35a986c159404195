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
	var sum []byte
	for attempt := 1; attempt <= downloadAttempts; attempt++ {
		if sum, err = a.download(ctx, id, p, part); err == nil {
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
	// The size was enforced and the sha256 computed while the bytes
	// streamed to disk: no second read of a large payload.
	if got := hex.EncodeToString(sum); got != p.SHA256 {
		os.Remove(part)
		return "", mismatchError{fmt.Errorf("payload %s: hash mismatch: sha256 is %s, want %s; the file was deleted and never run", p.Name, got, p.SHA256)}
	}
	if err := os.Rename(part, final); err != nil {
		return "", err
	}
	return final, nil
}

// download brings part up to the payload's size, resuming from what part
// already holds, and returns the sha256 of the whole file: what part held
// is hashed first, the rest as it streams in.
func (a *Agent) download(ctx context.Context, id *identity, p patchgate.Payload, part string) ([]byte, error) {
	var off int64
	if fi, err := os.Stat(part); err == nil {
		off = fi.Size()
	}
	if off > p.Size {
		os.Remove(part)
		off = 0
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, permanentError{err}
	}
	if err := f.Truncate(off); err != nil {
		f.Close()
		return nil, permanentError{err}
	}
	h := sha256.New()
	if n, err := io.Copy(h, io.LimitReader(f, off)); err != nil || n != off {
		f.Close()
		os.Remove(part)
		return nil, fmt.Errorf("re-reading the partial download of %s: %d of %d bytes, %v", p.Name, n, off, err)
	}
	if off == p.Size && off > 0 {
		return h.Sum(nil), f.Close()
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, permanentError{err}
	}
	want := p.Size - off
	lw := &limitWriter{w: io.MultiWriter(f, h), left: want}
	n, total, dlErr := a.api.Download(ctx, id.Credential, p.SHA256, off, lw)
	closeErr := f.Close()
	switch {
	case total >= 0 && total != p.Size:
		os.Remove(part)
		return nil, sizeMismatch(p, total)
	case lw.over:
		os.Remove(part)
		return nil, permanentError{mismatchError{fmt.Errorf("payload %s: size mismatch: the server sent more than %d bytes; the file was deleted and never run", p.Name, p.Size)}}
	case errors.Is(dlErr, agentapi.ErrBadContentRange):
		os.Remove(part)
		return nil, fmt.Errorf("downloading %s: %w", p.Name, dlErr)
	case agentapi.HTTPStatus(dlErr) == http.StatusRequestedRangeNotSatisfiable:
		os.Remove(part)
		return nil, fmt.Errorf("downloading %s: server refused to resume; starting over", p.Name)
	case agentapi.HTTPStatus(dlErr) != 0:
		e := a.serverError(dlErr, "downloading "+p.Name, true)
		if agentapi.HTTPStatus(dlErr) >= 500 {
			return nil, e
		}
		return nil, permanentError{e}
	case dlErr != nil:
		var pe *patchgate.Error
		if errors.As(dlErr, &pe) {
			return nil, permanentError{fmt.Errorf("downloading %s: %w", p.Name, dlErr)}
		}
		return nil, fmt.Errorf("downloading %s: %w", p.Name, dlErr)
	case closeErr != nil:
		return nil, permanentError{closeErr}
	case n < want:
		return nil, fmt.Errorf("downloading %s: connection ended after %d of %d bytes", p.Name, off+n, p.Size)
	}
	return h.Sum(nil), nil
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

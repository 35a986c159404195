// Package content is the content-addressed payload store: update payloads
// kept on disk under their sha256, written atomically (temp file, fsync,
// rename, fsync of the directory) and served with http.ServeContent so Range
// requests and sendfile work.
//
// Layout under the store's directory:
//
//	sha256/ab/abcdef...   one object per sha256, sharded by its first byte
//	tmp/                  in-progress writes, same filesystem so rename is atomic
//
// Objects are immutable: a sha256 names exactly one byte string, so a Put of
// content that is already stored keeps the existing object.
//
// It imports only the standard library and the domain package
// github.com/patchgate/patchgate; it must not import any other adapter.
package content

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/patchgate/patchgate/atomicfile"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/patchgate/patchgate"
)

// staleTempAge is how long an untouched temp file may stay in tmp/ before
// Open removes it as left over from a crashed or abandoned write. A live
// write touches its file on every chunk, so only idle files get this old.
const staleTempAge = time.Hour

// Store is a content-addressed store rooted at one directory. It is safe for
// concurrent use, also by several processes sharing the directory.
type Store struct {
	dir     string // root
	objects string // root/sha256
	tmp     string // root/tmp
}

// Open opens the store in dir, creating dir, its object and temp directories
// when missing, and removes temp files left over from writes that stopped
// more than an hour ago.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, patchgate.Invalid("dir", "content store directory is empty")
	}
	s := &Store{
		dir:     dir,
		objects: filepath.Join(dir, "sha256"),
		tmp:     filepath.Join(dir, "tmp"),
	}
	for _, d := range []string{s.objects, s.tmp} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, patchgate.Internal(err, "content: creating store directory")
		}
	}
	if err := s.cleanTemp(time.Now().Add(-staleTempAge)); err != nil {
		return nil, err
	}
	return s, nil
}

// cleanTemp removes regular files in tmp/ last modified before cutoff.
func (s *Store) cleanTemp(cutoff time.Time) error {
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return patchgate.Internal(err, "content: reading temp directory")
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // finished or removed meanwhile
		}
		if err != nil {
			return patchgate.Internal(err, "content: reading temp directory")
		}
		if info.ModTime().Before(cutoff) {
			err := os.Remove(filepath.Join(s.tmp, e.Name()))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return patchgate.Internal(err, "content: removing stale temp file")
			}
		}
	}
	return nil
}

// validSHA256 reports whether sha is exactly 64 lowercase hex characters, the
// only form the store accepts. Anything else could name a path outside it.
func validSHA256(sha string) bool {
	if len(sha) != sha256.Size*2 {
		return false
	}
	for i := 0; i < len(sha); i++ {
		c := sha[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func checkSHA(sha string) error {
	if !validSHA256(sha) {
		return patchgate.Invalid("sha256", "must be 64 lowercase hex characters")
	}
	return nil
}

// Path returns the file path of the object sha, whether or not it is stored.
func (s *Store) Path(sha string) (string, error) {
	if err := checkSHA(sha); err != nil {
		return "", err
	}
	return s.path(sha), nil
}

func (s *Store) path(sha string) string {
	return filepath.Join(s.objects, sha[:2], sha)
}

// Put streams r into the store and returns the sha256 and size of what it
// read. At most maxSize bytes are accepted (maxSize <= 0 means no limit; a
// caller storing outside input must pass one): more is a too_large error.
// When wantSHA256 is not empty the content must hash to it, else Put returns
// an invalid error and stores nothing. Content already stored is kept as it
// is and the new copy discarded.
//
// The object becomes visible only once complete and on stable storage, so a
// reader or a crash never sees a partial object.
func (s *Store) Put(r io.Reader, wantSHA256 string, maxSize int64) (sha string, size int64, err error) {
	if wantSHA256 != "" {
		if err := checkSHA(wantSHA256); err != nil {
			return "", 0, err
		}
	}
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return "", 0, patchgate.Internal(err, "content: creating temp file")
	}
	tmpName := f.Name()
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(tmpName)
		}
	}()

	h := sha256.New()
	src := r
	if maxSize > 0 {
		src = io.LimitReader(r, maxSize+1) // one byte more tells "too large" from "exactly max"
	}
	size, err = io.Copy(io.MultiWriter(f, h), src)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", 0, tooLarge(mbe.Limit)
		}
		return "", 0, patchgate.Internal(err, "content: writing payload")
	}
	if maxSize > 0 && size > maxSize {
		return "", 0, tooLarge(maxSize)
	}
	sha = hex.EncodeToString(h.Sum(nil))
	if wantSHA256 != "" && sha != wantSHA256 {
		return "", 0, patchgate.Invalid("sha256", "content hashes to %s, expected %s", sha, wantSHA256)
	}
	if err := f.Sync(); err != nil {
		return "", 0, patchgate.Internal(err, "content: syncing payload")
	}
	if err := f.Close(); err != nil {
		return "", 0, patchgate.Internal(err, "content: closing payload")
	}

	final := s.path(sha)
	// An object of the right size is the same content: the name is its hash
	// and objects only ever appear complete. A different size means damage
	// done outside the store; the fresh copy replaces it.
	if fi, err := os.Stat(final); err == nil && fi.Mode().IsRegular() && fi.Size() == size {
		return sha, size, nil // deferred cleanup drops the temp file
	}
	shard := filepath.Dir(final)
	if err := os.Mkdir(shard, 0o750); err == nil {
		if err := atomicfile.SyncDir(s.objects); err != nil {
			return "", 0, patchgate.Internal(err, "content: syncing object directory")
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return "", 0, patchgate.Internal(err, "content: creating shard directory")
	}
	// Concurrent Puts of the same content may both get here; rename is
	// atomic and both files hold the same bytes, so either may win.
	if err := os.Rename(tmpName, final); err != nil {
		return "", 0, patchgate.Internal(err, "content: storing payload")
	}
	committed = true
	if err := atomicfile.SyncDir(shard); err != nil {
		return "", 0, patchgate.Internal(err, "content: syncing shard directory")
	}
	return sha, size, nil
}

func tooLarge(limit int64) *patchgate.Error {
	return &patchgate.Error{
		Code:    patchgate.CodeTooLarge,
		Message: fmt.Sprintf("content exceeds the limit of %d bytes", limit),
	}
}

// Has reports whether sha is stored, and its size.
func (s *Store) Has(sha string) (size int64, ok bool, err error) {
	if err := checkSHA(sha); err != nil {
		return 0, false, err
	}
	fi, err := os.Stat(s.path(sha))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, patchgate.Internal(err, "content: looking up object")
	}
	if !fi.Mode().IsRegular() {
		return 0, false, patchgate.Internal(fmt.Errorf("%s is not a regular file", s.path(sha)), "content: looking up object")
	}
	return fi.Size(), true, nil
}

// Open opens the object sha for reading; the caller closes it. A missing
// object is a not_found error.
func (s *Store) Open(sha string) (*os.File, os.FileInfo, error) {
	if err := checkSHA(sha); err != nil {
		return nil, nil, err
	}
	f, err := os.Open(s.path(sha))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, patchgate.NotFound("content %s not found", sha)
	}
	if err != nil {
		return nil, nil, patchgate.Internal(err, "content: opening object")
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, patchgate.Internal(err, "content: opening object")
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, patchgate.Internal(fmt.Errorf("%s is not a regular file", f.Name()), "content: opening object")
	}
	return f, fi, nil
}

// Remove deletes the object sha. Removing an object that is not stored is
// not an error, so that concurrent cleanups do not fail each other.
func (s *Store) Remove(sha string) error {
	if err := checkSHA(sha); err != nil {
		return err
	}
	if err := os.Remove(s.path(sha)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return patchgate.Internal(err, "content: removing object")
	}
	return nil
}

// Serve writes the object sha as the response to r: Range and conditional
// requests are answered by http.ServeContent; the ETag is the quoted sha and
// the response may be cached forever, since the object can never change.
// Errors are answered with a JSON body {"code": ..., "message": ...}: 400
// for a malformed sha, 404 for a missing object.
func (s *Store) Serve(w http.ResponseWriter, r *http.Request, sha string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, patchgate.CodeInvalid, "method not allowed")
		return
	}
	f, fi, err := s.Open(sha)
	if err != nil {
		switch patchgate.ErrorCode(err) {
		case patchgate.CodeInvalid:
			writeError(w, http.StatusBadRequest, patchgate.CodeInvalid, err.Error())
		case patchgate.CodeNotFound:
			writeError(w, http.StatusNotFound, patchgate.CodeNotFound, err.Error())
		default:
			// The cause stays out of the response; the caller's logging
			// middleware sees the status.
			writeError(w, http.StatusInternalServerError, patchgate.CodeInternal, "internal error")
		}
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `"`+sha+`"`)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	// A zero modtime leaves validation to the ETag: file times differ
	// between replicas, the hash does not.
	http.ServeContent(w, r, fi.Name(), time.Time{}, f)
}

func writeError(w http.ResponseWriter, status int, code patchgate.Code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Code    patchgate.Code `json:"code"`
		Message string         `json:"message"`
	}{code, msg})
}

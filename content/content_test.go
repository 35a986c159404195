package content

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/patchgate/patchgate"
)

func shaOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func openStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, dir
}

// tempFiles lists what is left in tmp/: every Put must clean up after itself.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// objects lists every file under sha256/.
func objects(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(dir, "sha256"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestPutOpen(t *testing.T) {
	s, dir := openStore(t)
	data := []byte("payload of hotfix HF-1\n")
	want := shaOf(data)

	sha, size, err := s.Put(bytes.NewReader(data), want, 1<<20)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if sha != want || size != int64(len(data)) {
		t.Fatalf("Put = %s, %d; want %s, %d", sha, size, want, len(data))
	}
	if got, want := objects(t, dir), []string{"sha256/" + want[:2] + "/" + want}; !slices.Equal(got, want) {
		t.Fatalf("objects = %v, want %v", got, want)
	}
	if tf := tempFiles(t, dir); len(tf) != 0 {
		t.Fatalf("temp files left: %v", tf)
	}

	n, ok, err := s.Has(sha)
	if err != nil || !ok || n != int64(len(data)) {
		t.Fatalf("Has = %d, %v, %v", n, ok, err)
	}
	f, fi, err := s.Open(sha)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) || fi.Size() != int64(len(data)) {
		t.Fatalf("read %q (size %d), want %q", got, fi.Size(), data)
	}
	p, err := s.Path(sha)
	if err != nil || p != filepath.Join(dir, "sha256", sha[:2], sha) {
		t.Fatalf("Path = %q, %v", p, err)
	}

	// Without an expected hash the store computes it.
	sha2, _, err := s.Put(strings.NewReader("other"), "", 0)
	if err != nil || sha2 != shaOf([]byte("other")) {
		t.Fatalf("Put without hash = %s, %v", sha2, err)
	}
}

func TestPutEmpty(t *testing.T) {
	s, _ := openStore(t)
	sha, size, err := s.Put(bytes.NewReader(nil), shaOf(nil), 10)
	if err != nil || size != 0 || sha != shaOf(nil) {
		t.Fatalf("Put empty = %s, %d, %v", sha, size, err)
	}
	if n, ok, _ := s.Has(sha); !ok || n != 0 {
		t.Fatalf("Has empty = %d, %v", n, ok)
	}
}

func TestPutDeduplicates(t *testing.T) {
	s, dir := openStore(t)
	data := []byte("same bytes")
	sha, _, err := s.Put(bytes.NewReader(data), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.Path(sha)
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	sha2, size2, err := s.Put(bytes.NewReader(data), sha, 0)
	if err != nil || sha2 != sha || size2 != int64(len(data)) {
		t.Fatalf("second Put = %s, %d, %v", sha2, size2, err)
	}
	after, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Fatal("second Put replaced the existing object; want it kept")
	}
	if got := objects(t, dir); len(got) != 1 {
		t.Fatalf("objects = %v, want one", got)
	}
	if tf := tempFiles(t, dir); len(tf) != 0 {
		t.Fatalf("temp files left: %v", tf)
	}
}

func TestPutHashMismatchStoresNothing(t *testing.T) {
	s, dir := openStore(t)
	wrong := shaOf([]byte("what the catalog promised"))
	_, _, err := s.Put(strings.NewReader("what the mirror sent"), wrong, 1<<20)
	var pe *patchgate.Error
	if !errors.As(err, &pe) || pe.Code != patchgate.CodeInvalid || pe.Field != "sha256" {
		t.Fatalf("Put with wrong hash: err = %#v, want invalid sha256", err)
	}
	if got := objects(t, dir); len(got) != 0 {
		t.Fatalf("objects after mismatch = %v, want none", got)
	}
	if tf := tempFiles(t, dir); len(tf) != 0 {
		t.Fatalf("temp files after mismatch: %v", tf)
	}
	if _, ok, _ := s.Has(wrong); ok {
		t.Fatal("Has(expected sha) after mismatch = true")
	}
}

func TestPutSizeLimit(t *testing.T) {
	s, dir := openStore(t)
	data := bytes.Repeat([]byte("x"), 100)

	// Exactly the limit is fine.
	if _, size, err := s.Put(bytes.NewReader(data), "", 100); err != nil || size != 100 {
		t.Fatalf("Put at limit = %d, %v", size, err)
	}
	// One byte more is not, and leaves nothing behind.
	big := append(bytes.Clone(data), 'y')
	_, _, err := s.Put(bytes.NewReader(big), "", 100)
	if patchgate.ErrorCode(err) != patchgate.CodeTooLarge {
		t.Fatalf("Put over limit: err = %v, want too_large", err)
	}
	if _, ok, _ := s.Has(shaOf(big)); ok {
		t.Fatal("oversized content was stored")
	}
	if tf := tempFiles(t, dir); len(tf) != 0 {
		t.Fatalf("temp files left: %v", tf)
	}

	// A request body limited by http.MaxBytesReader reports too_large too.
	rec := httptest.NewRecorder()
	body := http.MaxBytesReader(rec, io.NopCloser(bytes.NewReader(big)), 50)
	if _, _, err := s.Put(body, "", 0); patchgate.ErrorCode(err) != patchgate.CodeTooLarge {
		t.Fatalf("Put from MaxBytesReader: err = %v, want too_large", err)
	}
}

func TestPutReaderError(t *testing.T) {
	s, dir := openStore(t)
	r := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(errors.New("connection reset")))
	_, _, err := s.Put(r, "", 0)
	if patchgate.ErrorCode(err) != patchgate.CodeInternal {
		t.Fatalf("Put with failing reader: err = %v, want internal", err)
	}
	if got := objects(t, dir); len(got) != 0 {
		t.Fatalf("objects = %v, want none", got)
	}
	if tf := tempFiles(t, dir); len(tf) != 0 {
		t.Fatalf("temp files left: %v", tf)
	}
}

func TestInvalidSHA(t *testing.T) {
	s, _ := openStore(t)
	valid := shaOf([]byte("x"))
	bad := []string{
		"",
		"../etc/passwd",
		"../../../../../../etc/passwd",
		strings.ToUpper(valid),
		valid[:63],
		valid + "0",
		valid[:62] + "/a",
		valid[:63] + "g",
		"ab/" + valid[:61],
		valid[:63] + "\x00",
	}
	for _, sha := range bad {
		check := func(op string, err error) {
			t.Helper()
			var pe *patchgate.Error
			if !errors.As(err, &pe) || pe.Code != patchgate.CodeInvalid {
				t.Errorf("%s(%q): err = %v, want invalid", op, sha, err)
			}
		}
		_, _, err := s.Has(sha)
		check("Has", err)
		_, _, err = s.Open(sha)
		check("Open", err)
		check("Remove", s.Remove(sha))
		_, err = s.Path(sha)
		check("Path", err)
		if sha != "" { // "" means "don't check" for Put
			_, _, err = s.Put(strings.NewReader("x"), sha, 0)
			check("Put", err)
		}
	}
}

func TestOpenMissingAndRemove(t *testing.T) {
	s, _ := openStore(t)
	missing := shaOf([]byte("never stored"))
	if _, _, err := s.Open(missing); !patchgate.IsNotFound(err) {
		t.Fatalf("Open missing: err = %v, want not_found", err)
	}
	if _, ok, err := s.Has(missing); ok || err != nil {
		t.Fatalf("Has missing = %v, %v", ok, err)
	}
	if err := s.Remove(missing); err != nil {
		t.Fatalf("Remove missing: %v", err)
	}
	sha, _, err := s.Put(strings.NewReader("to delete"), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(sha); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Has(sha); ok {
		t.Fatal("object still there after Remove")
	}
}

func TestOpenCleansStaleTemp(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "tmp", "put-stale")
	fresh := filepath.Join(dir, "tmp", "put-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp file still there (err = %v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temp file removed: %v", err)
	}
}

func TestConcurrentPutSameContent(t *testing.T) {
	s, dir := openStore(t)
	data := bytes.Repeat([]byte("concurrent payload "), 50000) // ~1 MB, so writes overlap
	want := shaOf(data)

	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	shas := make([]string, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			shas[i], _, errs[i] = s.Put(bytes.NewReader(data), want, int64(len(data)))
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || shas[i] != want {
			t.Errorf("Put %d = %s, %v", i, shas[i], errs[i])
		}
	}
	if got := objects(t, dir); len(got) != 1 {
		t.Fatalf("objects = %v, want exactly one", got)
	}
	p, _ := s.Path(want)
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if shaOf(got) != want {
		t.Fatal("stored object does not hash to its name")
	}
	if tf := tempFiles(t, dir); len(tf) != 0 {
		t.Fatalf("temp files left: %v", tf)
	}
}

func serveServer(t *testing.T, s *Store) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Serve(w, r, strings.TrimPrefix(r.URL.Path, "/content/sha256/"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestServe(t *testing.T) {
	s, _ := openStore(t)
	data := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	sha, _, err := s.Put(bytes.NewReader(data), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	srv := serveServer(t, s)
	url := srv.URL + "/content/sha256/" + sha

	t.Run("full", func(t *testing.T) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
			t.Fatalf("GET = %d %q", resp.StatusCode, body)
		}
		for k, want := range map[string]string{
			"Content-Type":   "application/octet-stream",
			"ETag":           `"` + sha + `"`,
			"Cache-Control":  "public, max-age=31536000, immutable",
			"Accept-Ranges":  "bytes",
			"Content-Length": "36",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
	})

	t.Run("range", func(t *testing.T) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Range", "bytes=10-19")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusPartialContent || string(body) != "abcdefghij" {
			t.Fatalf("Range GET = %d %q, want 206 \"abcdefghij\"", resp.StatusCode, body)
		}
		if got := resp.Header.Get("Content-Range"); got != "bytes 10-19/36" {
			t.Errorf("Content-Range = %q", got)
		}
	})

	t.Run("resume from offset", func(t *testing.T) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Range", "bytes=30-")
		req.Header.Set("If-Range", `"`+sha+`"`)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusPartialContent || string(body) != "uvwxyz" {
			t.Fatalf("If-Range GET = %d %q", resp.StatusCode, body)
		}
	})

	t.Run("not modified", func(t *testing.T) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("If-None-Match", `"`+sha+`"`)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Fatalf("If-None-Match GET = %d, want 304", resp.StatusCode)
		}
	})

	errorCases := []struct {
		name   string
		path   string
		status int
		code   string
	}{
		{"missing", "/content/sha256/" + shaOf([]byte("nope")), 404, "not_found"},
		{"uppercase", "/content/sha256/" + strings.ToUpper(sha), 400, "invalid"},
		{"traversal", "/content/sha256/..%2f..%2fetc%2fpasswd", 400, "invalid"},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("decoding error body: %v", err)
			}
			if resp.StatusCode != tc.status || body.Code != tc.code || body.Message == "" {
				t.Fatalf("GET %s = %d %+v, want %d %s", tc.path, resp.StatusCode, body, tc.status, tc.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

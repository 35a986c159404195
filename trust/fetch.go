package trust

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// The agent side fetches TUF metadata only through the client it was given:
// the agent's pinned TLS client, which uses no proxy and no system CA
// bundle (pki.NewHTTPClient). go-tuf's default fetcher would use
// http.DefaultClient, which honours HTTPS_PROXY and the system trust store,
// so it is never used.

// pinnedFetcher is a go-tuf fetcher.Fetcher over one *http.Client. It
// fetches only URLs under base, bounds every file by the size go-tuf asks
// for (reading at most maxLength+1 bytes) and every request by timeout, and
// never retries: a refresh that fails is refused, and the next install
// attempt makes a new updater.
type pinnedFetcher struct {
	ctx     context.Context
	client  *http.Client
	base    string // https://server/tuf/<repo>/
	timeout time.Duration
	fetched func(name string, data []byte)
}

// DownloadFile implements fetcher.Fetcher. The timeout argument is
// deprecated in go-tuf and ignored; f.timeout applies.
func (f *pinnedFetcher) DownloadFile(urlPath string, maxLength int64, _ time.Duration) ([]byte, error) {
	if !strings.HasPrefix(urlPath, f.base) {
		return nil, fmt.Errorf("refusing to fetch %s: outside the repository %s", urlPath, f.base)
	}
	if maxLength <= 0 {
		return nil, fmt.Errorf("refusing to fetch %s: no size limit", urlPath)
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, urlPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// A 404 for <N+1>.root.json ends go-tuf's root walk.
		return nil, &metadata.ErrDownloadHTTP{StatusCode: resp.StatusCode, URL: urlPath}
	}
	if resp.ContentLength > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s has %d bytes, more than the %d allowed", urlPath, resp.ContentLength, maxLength)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxLength+1))
	if err == nil {
		// A body cut short by the deadline can end like a complete one.
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", urlPath, err)
	}
	if int64(len(data)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s has more than the %d bytes allowed", urlPath, maxLength)}
	}
	if f.fetched != nil {
		f.fetched(strings.TrimPrefix(urlPath, f.base), data)
	}
	return data, nil
}

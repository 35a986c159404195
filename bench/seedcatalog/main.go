// Command seedcatalog publishes a synthetic catalog through the admin API
// for the benchmarks: N updates spread over P products (p000, p001, ...),
// each applying to versions >=1.0, <2.0, all sharing one small payload, and
// writes the matching host templates for `patchgate sim --templates`.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

func main() {
	server := flag.String("server", os.Getenv("PATCHGATE_SERVER"), "server URL (plain http)")
	token := flag.String("token", os.Getenv("PATCHGATE_TOKEN"), "publisher or admin token")
	updates := flag.Int("updates", 10000, "number of updates")
	products := flag.Int("products", 100, "number of products")
	templates := flag.String("templates", "", "write sim host templates (3 products per host) to this file")
	workers := flag.Int("workers", 8, "concurrent requests")
	flag.Parse()
	ctx := context.Background()
	client := &http.Client{Timeout: time.Minute}
	do := func(method, path string, body io.Reader, ctype string) error {
		req, _ := http.NewRequestWithContext(ctx, method, *server+path, body)
		req.Header.Set("Authorization", "Bearer "+*token)
		req.Header.Set("Content-Type", ctype)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 300 {
			msg, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, msg)
		}
		return nil
	}
	payload := []byte("#!/bin/sh\nexit 0\n")
	sum := sha256.Sum256(payload)
	sha := hex.EncodeToString(sum[:])
	if err := do("PUT", "/api/v1/content/"+sha, bytes.NewReader(payload), "application/octet-stream"); err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	var next, done atomic.Int64
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= *updates {
					return
				}
				m := patchgate.Manifest{ID: fmt.Sprintf("bench-u%05d", i), Title: fmt.Sprintf("synthetic update %d", i),
					Kind: patchgate.KindHotfix, Severity: patchgate.Severities[i%4],
					Products: []patchgate.ProductConstraint{{Name: fmt.Sprintf("p%03d", i%*products), Versions: ">=1.0, <2.0"}},
					Reboot:   patchgate.RebootNever,
					Payloads: []patchgate.ManifestPayload{{Name: "fix.sh", Size: int64(len(payload)), SHA256: sha, Installer: patchgate.InstallerExec}}}
				// Posted at once: the benchmarks measure plans, not the release
				// lifecycle.
				data, _ := json.Marshal(adminapi.AddUpdateRequest{Manifest: m, Post: true, Force: true, Reason: "synthetic benchmark catalog"})
				if err := do("POST", "/api/v1/updates", bytes.NewReader(data), "application/json"); err != nil {
					log.Fatal(err)
				}
				if n := done.Add(1); n%1000 == 0 {
					fmt.Fprintf(os.Stderr, "\rseeded %d/%d updates", n, *updates)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Fprintf(os.Stderr, "\rseeded %d updates over %d products in %s\n", *updates, *products, time.Since(start).Round(time.Millisecond))
	if *templates != "" {
		type prod struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		}
		type tmpl struct {
			Name     string `json:"name"`
			OS       string `json:"os"`
			Arch     string `json:"arch"`
			Mode     string `json:"mode"`
			Products []prod `json:"products"`
			Weight   int    `json:"weight"`
		}
		var ts []tmpl
		for i := range *products {
			ts = append(ts, tmpl{Name: fmt.Sprintf("t%03d", i), OS: "linux", Arch: "amd64", Mode: "automatic", Weight: 1,
				Products: []prod{{fmt.Sprintf("p%03d", i), "1.5"}, {fmt.Sprintf("p%03d", (i+1)%*products), "1.5"}, {fmt.Sprintf("p%03d", (i+2)%*products), "1.5"}}})
		}
		data, _ := json.MarshalIndent(ts, "", " ")
		if err := os.WriteFile(*templates, data, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

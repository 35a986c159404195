// Command baseline is the comparison point of the check-in benchmark: a bare
// net/http handler that answers every request with a 200-byte JSON body
// shaped like a check-in answer with an empty plan. The fleet simulator
// drives it exactly as it drives patchgate.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"strings"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:38490", "address to listen on")
	flag.Parse()
	body := `{"plan":{"host_id":"h","items":[]},"server_time":"2026-12-04T00:00:00Z","pad":"`
	body += strings.Repeat("x", 200-len(body)-3) + `"}` + "\n"
	log.Printf("baseline: %d-byte JSON on http://%s", len(body), *addr)
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	})))
}

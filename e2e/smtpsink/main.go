// Command smtpsink is a real SMTP server in its own process for the
// end-to-end tests: it accepts every message on --addr and writes each to
// --dir as NNNNNN.eml (atomically, before answering 250), so a test can
// stop it, restart it on the same port, and read what arrived.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/patchgate/patchgate/notify/mailsink"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	dir := flag.String("dir", "", "directory to write messages to")
	flag.Parse()
	if *dir == "" {
		log.Fatal("smtpsink: --dir is required")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	keep := func(m mailsink.Message) error {
		mu.Lock()
		defer mu.Unlock()
		n, err := filepath.Glob(filepath.Join(*dir, "*.eml"))
		if err != nil {
			return err
		}
		tmp := filepath.Join(*dir, ".incoming")
		if err := os.WriteFile(tmp, m.Data, 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Join(*dir, fmt.Sprintf("%06d.eml", len(n)+1)))
	}
	sink, err := mailsink.StartWith(mailsink.Options{Addr: *addr, Keep: keep})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening on", sink.Addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	sink.Close()
}

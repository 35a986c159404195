// Command patchgate is the one binary of patchgate: the update server
// (serve), the agent (agent), a self-contained demo (demo) and the admin
// CLI (update, approve, group, host, token, report, ...).
//
// Configuration is read here and only here: flags, then PATCHGATE_*
// environment variables; packages receive values.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// globalOptions are the flags every admin command shares.
type globalOptions struct {
	Server        string
	Token         string
	CAFingerprint string
	JSON          bool
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newRootCmd() *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:           "patchgate",
		Short:         "Self-hosted patch management: update server, agent and admin CLI in one binary",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.Server, "server", envOr("PATCHGATE_SERVER", "https://127.0.0.1:8443"), "server URL (env PATCHGATE_SERVER)")
	pf.StringVar(&g.Token, "token", os.Getenv("PATCHGATE_TOKEN"), "API token (env PATCHGATE_TOKEN)")
	pf.StringVar(&g.CAFingerprint, "ca-fingerprint", os.Getenv("PATCHGATE_CA_FINGERPRINT"), "SHA-256 fingerprint of the server's CA to pin (env PATCHGATE_CA_FINGERPRINT)")
	pf.BoolVar(&g.JSON, "json", false, "print JSON instead of tables")

	root.AddCommand(newAgentCmd(g))
	addServerCommands(root, g)
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCmd().ExecuteContext(ctx)
	if err == nil {
		return
	}
	var pe *patchgate.Error
	if errors.As(err, &pe) {
		fmt.Fprintf(os.Stderr, "patchgate: %s (%s)\n", pe.Error(), pe.Code)
	} else {
		fmt.Fprintf(os.Stderr, "patchgate: %v\n", err)
	}
	var ee exitError
	if errors.As(err, &ee) {
		os.Exit(int(ee))
	}
	os.Exit(1)
}

// exitError carries a specific exit status.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

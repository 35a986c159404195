//go:build !agentonly

package main

import (
	"log/slog"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/content"
	"github.com/patchgate/patchgate/server"
	"github.com/patchgate/patchgate/trust"
	"github.com/patchgate/patchgate/upstream"
)

// syncOptions are serve's upstream sync flags.
type syncOptions struct {
	PerDay   int
	PageSize int
	Parallel int
}

func addSyncFlags(f *pflag.FlagSet, o *syncOptions) {
	f.IntVar(&o.PerDay, "sync-per-day", 1, "sync every upstream this many times a day, evenly spaced from a random offset (0 = only `sync now`)")
	f.IntVar(&o.PageSize, "sync-page-size", 200, "change feed entries asked of an upstream per request")
	f.IntVar(&o.Parallel, "sync-parallel", 4, "content downloads from upstreams at once")
}

func (o syncOptions) check() error {
	if o.PerDay < 0 || o.PerDay > 24*60 {
		return patchgate.Invalid("--sync-per-day", "must be from 0 to 1440")
	}
	// Zero values (serve options built in code) take the defaults.
	if o.PageSize < 0 || o.PageSize > patchgate.MaxFeedLimit {
		return patchgate.Invalid("--sync-page-size", "must be from 1 to %d", patchgate.MaxFeedLimit)
	}
	if o.Parallel < 0 || o.Parallel > 64 {
		return patchgate.Invalid("--sync-parallel", "must be from 1 to 64")
	}
	return nil
}

// newSyncer builds the upstream syncer of a server and wires it in.
func newSyncer(o *serveOptions, db patchgate.Store, cs *content.Store, srv *server.Server, log *slog.Logger) *upstream.Syncer {
	sy := upstream.New(upstream.Config{
		Store: db, Content: cs, Logger: log,
		Chain:           srv.ChainFor,
		Compliance:      srv.LocalSiteCompliance,
		OnChange:        srv.Synced,
		PageSize:        o.Sync.PageSize,
		Parallel:        o.Sync.Parallel,
		PartialDir:      filepath.Join(o.Data, "upstream-partial"),
		MaxPayloadBytes: o.MaxPayload,
		PerDay:          o.Sync.PerDay,
		Offset:          upstream.RandomOffset(o.Sync.PerDay),
		Mirrors:         trust.NewMirrors(filepath.Join(o.Data, "tuf", "mirror")),
	})
	srv.SetSyncService(sy)
	return sy
}

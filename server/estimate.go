package server

import (
	"context"
	"time"

	"github.com/patchgate/patchgate"
)

// estimateRefresh is how often Run recomputes the estimates.
const estimateRefresh = 10 * time.Minute

// loadEstimates reads recent installs and estimates install durations
// (patchgate.EstimateInstallDurations); only hosts with maintenance
// windows need them, so without windows nothing is read.
func (s *Server) loadEstimates(ctx context.Context, ws *windowSnapshot, catalog *patchgate.Catalog) (patchgate.InstallEstimates, error) {
	if len(ws.windows) == 0 {
		return patchgate.InstallEstimates{}, nil
	}
	samples, err := s.store.RecentInstalls(ctx, patchgate.EstimateSamples)
	if err != nil {
		return patchgate.InstallEstimates{}, err
	}
	return patchgate.EstimateInstallDurations(samples, func(id string) []patchgate.InstallerType {
		u, ok := catalog.Get(id)
		if !ok {
			return nil
		}
		types := make([]patchgate.InstallerType, len(u.Payloads))
		for i, p := range u.Payloads {
			types[i] = p.Installer
		}
		return types
	}), nil
}

// currentEstimates returns the estimates snapshots use: those of the last
// refresh, read once when windows first need them. Reading past installs
// scans the activity log, so a snapshot rebuild (at every approval) does
// not repeat it; refreshEstimates does, periodically.
func (s *Server) currentEstimates(ctx context.Context, ws *windowSnapshot, catalog *patchgate.Catalog) (patchgate.InstallEstimates, error) {
	if len(ws.windows) == 0 {
		return patchgate.InstallEstimates{}, nil
	}
	if p := s.estimates.Load(); p != nil {
		return *p, nil
	}
	est, err := s.loadEstimates(ctx, ws, catalog)
	if err != nil {
		return patchgate.InstallEstimates{}, err
	}
	s.estimates.Store(&est)
	return est, nil
}

// refreshEstimates recomputes the install-duration estimates from the
// installs reported since the snapshot was built and, if they changed,
// invalidates the plans (Run calls it periodically: reports alone do not
// rebuild the snapshot).
func (s *Server) refreshEstimates(ctx context.Context) {
	snap, err := s.snapshot(ctx)
	if err != nil {
		s.log.Error("install-duration estimates: reading the snapshot failed", "err", err)
		return
	}
	est, err := s.loadEstimates(ctx, &snap.windowSnapshot, snap.catalog)
	if err != nil {
		s.log.Error("install-duration estimates: reading past installs failed", "err", err)
		return
	}
	if changedMuch(est, snap.estimates) {
		s.estimates.Store(&est)
		s.invalidate()
	}
}

// changedMuch reports whether estimates differ enough to recompute every
// plan (which also wakes every held check-in): an estimate appeared or
// went, or moved by more than a minute and 10 %.
func changedMuch(a, b patchgate.InstallEstimates) bool {
	return mapChangedMuch(a.ByUpdate, b.ByUpdate) || mapChangedMuch(a.ByInstaller, b.ByInstaller)
}

func mapChangedMuch[K comparable](a, b map[K]patchgate.InstallEstimate) bool {
	if len(a) != len(b) {
		return true
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok {
			return true
		}
		diff := (x.Duration - y.Duration).Abs()
		if diff > time.Minute && diff*10 > y.Duration {
			return true
		}
	}
	return false
}

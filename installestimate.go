package patchgate

import (
	"fmt"
	"slices"
	"time"
)

// Install-duration estimates: an install that would not finish before its
// maintenance window closes waits for the next window. How long an install
// takes is estimated from past ones, as reported by agents: from a host's
// "downloading" event to the "installed" (or "reboot-pending") event that
// directly follows its "installing" one.
//
// The estimate is the 90th percentile (nearest rank) of the samples, not
// the median: an estimate that is too short lets an install overrun the
// window, which is what windows exist to prevent; one that is too long
// only moves an install to the next window. It is per update when the
// update has at least EstimateMinSamples samples, else per installer type
// (over every update of that type); an update whose payloads use several
// types takes the longest of theirs. Without either there is no estimate
// and the window alone decides.

// InstallSample is one past install of an update by one host.
type InstallSample struct {
	UpdateID string
	HostID   string
	Started  time.Time // its "downloading" event
	Finished time.Time // its "installed" or "reboot-pending" event
}

// Estimate parameters.
const (
	EstimateMinSamples = 3
	EstimateQuantile   = 0.9
	// EstimateSamples is how many of the most recent installs are read.
	EstimateSamples = 5000
	// maxSampleDuration drops samples of installs that cannot have been
	// running all along (an agent that was off between its events).
	maxSampleDuration = 24 * time.Hour
)

// InstallEstimate is the estimated duration of an install and what it is
// based on.
type InstallEstimate struct {
	Duration time.Duration
	Samples  int
}

// InstallEstimates are the estimates per update and per installer type.
type InstallEstimates struct {
	ByUpdate    map[string]InstallEstimate
	ByInstaller map[InstallerType]InstallEstimate
}

// EstimateInstallDurations computes the estimates from past installs;
// installers gives the installer types of an update's payloads (nil for an
// update no longer in the catalog: its samples then count for it alone).
// Samples with a negative or implausibly long duration are ignored.
// Estimates are rounded up to whole seconds.
func EstimateInstallDurations(samples []InstallSample, installers func(updateID string) []InstallerType) InstallEstimates {
	byUpdate := map[string][]time.Duration{}
	byInstaller := map[InstallerType][]time.Duration{}
	for _, s := range samples {
		d := s.Finished.Sub(s.Started)
		if d < 0 || d > maxSampleDuration {
			continue
		}
		byUpdate[s.UpdateID] = append(byUpdate[s.UpdateID], d)
		var types []InstallerType
		if installers != nil {
			types = installers(s.UpdateID)
		}
		// An update of several installer types says little of any one.
		if len(types) > 0 && !slices.ContainsFunc(types, func(t InstallerType) bool { return t != types[0] }) {
			byInstaller[types[0]] = append(byInstaller[types[0]], d)
		}
	}
	est := InstallEstimates{ByUpdate: map[string]InstallEstimate{}, ByInstaller: map[InstallerType]InstallEstimate{}}
	for id, ds := range byUpdate {
		if len(ds) >= EstimateMinSamples {
			est.ByUpdate[id] = InstallEstimate{Duration: quantile(ds, EstimateQuantile), Samples: len(ds)}
		}
	}
	for t, ds := range byInstaller {
		if len(ds) >= EstimateMinSamples {
			est.ByInstaller[t] = InstallEstimate{Duration: quantile(ds, EstimateQuantile), Samples: len(ds)}
		}
	}
	return est
}

// quantile is the nearest-rank q-quantile of ds (sorted in place),
// rounded up to a whole second.
func quantile(ds []time.Duration, q float64) time.Duration {
	slices.Sort(ds)
	rank := int(q*float64(len(ds)) + 0.999999999)
	d := ds[max(min(rank, len(ds)), 1)-1]
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return d
}

// Equal reports whether e and o hold the same estimates.
func (e InstallEstimates) Equal(o InstallEstimates) bool {
	return mapsEqual(e.ByUpdate, o.ByUpdate) && mapsEqual(e.ByInstaller, o.ByInstaller)
}

func mapsEqual[K comparable](a, b map[K]InstallEstimate) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// For returns the estimate for an item and says what it is based on.
func (e InstallEstimates) For(it PlanItem) (est InstallEstimate, basis string, ok bool) {
	if est, ok := e.ByUpdate[it.UpdateID]; ok {
		return est, fmt.Sprintf("p90 of %d past installs of %s", est.Samples, it.UpdateID), true
	}
	var from InstallerType
	for _, p := range it.Payloads {
		if x, found := e.ByInstaller[p.Installer]; found && x.Duration > est.Duration {
			est, from, ok = x, p.Installer, true
		}
	}
	if !ok {
		return InstallEstimate{}, "", false
	}
	return est, fmt.Sprintf("p90 of %d past %s installs", est.Samples, from), true
}

// ApplyInstallEstimates holds back, after ApplyWindows, each install an
// automatic host may start only because a maintenance window is open when
// it would not finish before that window closes: now + estimate > close.
// The item then says why and when the next window opens. Installs allowed
// for another reason (no window, an emergency approval, a passed
// deadline) are left as they are: the window is not what allows them.
// Every install with an estimate carries it (EstimatedSeconds).
func ApplyInstallEstimates(p *Plan, now time.Time, windows []CompiledWindow, est InstallEstimates) {
	if p.Manual {
		return
	}
	for i := range p.Items {
		it := &p.Items[i]
		if it.Action != ActionInstall {
			continue
		}
		e, basis, ok := est.For(*it)
		if !ok {
			continue
		}
		it.EstimatedSeconds = int64(e.Duration / time.Second)
		d := FitWindow(now, *it, e.Duration, windows)
		if d.Allowed {
			continue
		}
		no := false
		it.InstallAllowed, it.WindowClosesAt, it.NextWindow = &no, nil, d.NextWindow
		it.InstallReason = fmt.Sprintf("the install takes about %s (%s) and would not finish before the maintenance window closes at %s",
			e.Duration, basis, d.ClosesAt.Format(time.RFC3339))
		if d.NextWindow != nil {
			it.InstallReason += "; waits for the next window at " + d.NextWindow.Format(time.RFC3339)
		}
	}
}

// FitWindow decides whether an item that ApplyWindows allowed may start
// given how long it takes. It is refused (Allowed false, with ClosesAt the
// close it would overrun and NextWindow the next opening after now) only
// when it is allowed because a window is open (WindowClosesAt set), it is
// neither an emergency nor past its deadline, and now + took is after the
// close.
func FitWindow(now time.Time, it PlanItem, took time.Duration, windows []CompiledWindow) InstallDecision {
	ok := InstallDecision{Allowed: it.MayInstall(), ClosesAt: it.WindowClosesAt, NextWindow: it.NextWindow, Reason: it.InstallReason}
	switch {
	case !it.MayInstall(), it.WindowClosesAt == nil, it.Emergency, took <= 0:
		return ok
	case it.Deadline != nil && !now.Before(*it.Deadline):
		return ok
	case !now.Add(took).After(*it.WindowClosesAt):
		return ok
	}
	closes := *it.WindowClosesAt
	d := InstallDecision{ClosesAt: &closes}
	if n, found := NextOpening(now, windows); found {
		d.NextWindow = &n
	}
	return d
}

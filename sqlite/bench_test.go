package sqlite

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

// BenchmarkRecordDeploymentEvents measures durable agent-event ingestion:
// batches of 500 new events, each moving a deployment, committed with
// synchronous=FULL to a file. The figure to watch is events/s.
func BenchmarkRecordDeploymentEvents(b *testing.B) {
	const (
		batch   = 500
		hosts   = 100
		updates = 50
	)
	db := openTemp(b)
	defer db.Close()
	hostIDs := make([]string, hosts)
	for i := range hostIDs {
		hostIDs[i] = "host-" + strconv.Itoa(i)
		enrollHost(b, db, hostIDs[i])
	}
	states := []patchgate.DeploymentState{patchgate.StateDownloading, patchgate.StateInstalling, patchgate.StateInstalled}
	// A request context, as the events handler passes one.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	evs := make([]patchgate.Event, batch)
	n := 0
	for b.Loop() {
		for i := range evs {
			n++
			evs[i] = patchgate.Event{
				ID:       "ev-" + strconv.Itoa(n),
				Time:     t0.Add(time.Duration(n) * time.Millisecond),
				Type:     patchgate.EventDeployment,
				Actor:    "host:" + hostIDs[n%hosts],
				HostID:   hostIDs[n%hosts],
				UpdateID: "HF-" + strconv.Itoa(n/hosts%updates),
				State:    states[n%len(states)],
			}
		}
		added, err := db.RecordDeploymentEvents(ctx, evs)
		if err != nil || added != batch {
			b.Fatalf("RecordDeploymentEvents: %d new, %v", added, err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

package server

import (
	"context"

	"github.com/patchgate/patchgate"
)

// eventWriter commits agent reports with group commit: reports that arrive
// while a transaction is being committed wait and go into the next one
// together. Durability stays full (every report is committed before its
// request is answered); the fsync cost is shared.
type eventWriter struct {
	store patchgate.DeploymentStore
	reqs  chan eventReq
	stop  chan struct{}
	done  chan struct{}
	// single commits each report on its own (no group commit): the
	// comparison point of the ingestion benchmark.
	single bool
}

type eventReq struct {
	ctx    context.Context
	events []patchgate.Event
	result chan eventResult
}

type eventResult struct {
	accepted int
	err      error
}

// maxGroupEvents bounds one group commit.
const maxGroupEvents = 5000

func newEventWriter(store patchgate.DeploymentStore, single bool) *eventWriter {
	w := &eventWriter{store: store, reqs: make(chan eventReq, 256), stop: make(chan struct{}), done: make(chan struct{}), single: single}
	go w.loop()
	return w
}

// record commits evs (with other waiting reports) and returns how many were
// new.
func (w *eventWriter) record(ctx context.Context, evs []patchgate.Event) (int, error) {
	req := eventReq{ctx: ctx, events: evs, result: make(chan eventResult, 1)}
	select {
	case w.reqs <- req:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-w.stop:
		return 0, patchgate.Errorf(patchgate.CodeInternal, "server is shutting down")
	}
	select {
	case r := <-req.result:
		return r.accepted, r.err
	case <-ctx.Done():
		// The report may still commit; the agent retries and the retry is
		// recognised by its event IDs.
		return 0, ctx.Err()
	}
}

func (w *eventWriter) close() {
	close(w.stop)
	<-w.done
}

func (w *eventWriter) loop() {
	defer close(w.done)
	for {
		var first eventReq
		select {
		case first = <-w.reqs:
		case <-w.stop:
			return
		}
		batch := []eventReq{first}
		n := len(first.events)
	drain:
		for n < maxGroupEvents && !w.single {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
				n += len(r.events)
			default:
				break drain
			}
		}
		w.commit(batch)
	}
}

func (w *eventWriter) commit(batch []eventReq) {
	groups := make([][]patchgate.Event, len(batch))
	for i, r := range batch {
		groups[i] = r.events
	}
	// The group outlives any one request: a report whose client went away
	// is still committed, so that nothing already sent is lost.
	counts, err := w.store.RecordDeploymentEventGroups(context.Background(), groups)
	if err == nil {
		for i, r := range batch {
			r.result <- eventResult{accepted: counts[i]}
		}
		return
	}
	if len(batch) == 1 {
		batch[0].result <- eventResult{err: err}
		return
	}
	// One bad report must not fail the others: commit them one by one.
	for _, r := range batch {
		c, err := w.store.RecordDeploymentEventGroups(context.Background(), [][]patchgate.Event{r.events})
		if err != nil {
			r.result <- eventResult{err: err}
			continue
		}
		r.result <- eventResult{accepted: c[0]}
	}
}

package server

import (
	"context"

	"github.com/patchgate/patchgate"
)

// groupCommitter commits writes with group commit: requests that arrive
// while a transaction is being committed wait and go into the next one
// together. Durability stays full (every request is committed before it is
// answered); the fsync is shared. It serves agent reports and inventories,
// the two writes of the check-in path.
type groupCommitter[Req, Res any] struct {
	reqs chan gcReq[Req, Res]
	stop chan struct{}
	done chan struct{}
	// commit writes a group in one transaction, one result per request.
	commit func(ctx context.Context, reqs []Req) ([]Res, error)
	// size weighs a request, to bound a group at maxSize.
	size    func(Req) int
	maxSize int
	// single commits each request on its own (no group commit): the
	// comparison point of the benchmarks.
	single bool
}

type gcReq[Req, Res any] struct {
	req    Req
	result chan gcResult[Res]
}

type gcResult[Res any] struct {
	res Res
	err error
}

func newGroupCommitter[Req, Res any](commit func(context.Context, []Req) ([]Res, error), size func(Req) int, maxSize int, single bool) *groupCommitter[Req, Res] {
	g := &groupCommitter[Req, Res]{reqs: make(chan gcReq[Req, Res], 256), stop: make(chan struct{}), done: make(chan struct{}),
		commit: commit, size: size, maxSize: maxSize, single: single}
	go g.loop()
	return g
}

// do commits req (with other waiting requests) and returns its result.
func (g *groupCommitter[Req, Res]) do(ctx context.Context, req Req) (Res, error) {
	var zero Res
	r := gcReq[Req, Res]{req: req, result: make(chan gcResult[Res], 1)}
	select {
	case g.reqs <- r:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-g.stop:
		return zero, patchgate.Errorf(patchgate.CodeInternal, "server is shutting down")
	}
	select {
	case out := <-r.result:
		return out.res, out.err
	case <-ctx.Done():
		// The write may still commit; agents retry, and retries are
		// recognised (event IDs, inventory digests).
		return zero, ctx.Err()
	}
}

func (g *groupCommitter[Req, Res]) close() {
	close(g.stop)
	<-g.done
}

func (g *groupCommitter[Req, Res]) loop() {
	defer close(g.done)
	for {
		var first gcReq[Req, Res]
		select {
		case first = <-g.reqs:
		case <-g.stop:
			return
		}
		batch := []gcReq[Req, Res]{first}
		n := g.size(first.req)
	drain:
		for n < g.maxSize && !g.single {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
				n += g.size(r.req)
			default:
				break drain
			}
		}
		g.commitBatch(batch)
	}
}

func (g *groupCommitter[Req, Res]) commitBatch(batch []gcReq[Req, Res]) {
	reqs := make([]Req, len(batch))
	for i, r := range batch {
		reqs[i] = r.req
	}
	// The group outlives any one request: a write whose client went away
	// is still committed, so that nothing already sent is lost.
	res, err := g.commit(context.Background(), reqs)
	if err == nil {
		for i, r := range batch {
			r.result <- gcResult[Res]{res: res[i]}
		}
		return
	}
	if len(batch) == 1 {
		batch[0].result <- gcResult[Res]{err: err}
		return
	}
	// One bad request must not fail the others: commit them one by one.
	for _, r := range batch {
		res, err := g.commit(context.Background(), []Req{r.req})
		if err != nil {
			r.result <- gcResult[Res]{err: err}
			continue
		}
		r.result <- gcResult[Res]{res: res[0]}
	}
}

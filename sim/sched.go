package sim

import "sync"

// scheduler is a min-heap of hosts by their next check-in time
// (nanoseconds since the run started). A host is in it while it waits and
// out of it while a worker runs its cycle, so that one host never runs
// twice at once and a fleet of any size costs one heap entry per host,
// not a sleeping goroutine.
type scheduler struct {
	mu   sync.Mutex
	heap []slot
	wake chan struct{} // a new earliest entry, or the first after empty
}

type slot struct {
	at   int64
	host int32
}

func newScheduler(capacity int) *scheduler {
	return &scheduler{heap: make([]slot, 0, capacity), wake: make(chan struct{}, 1)}
}

func (s *scheduler) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.heap)
}

// push adds host at time at and wakes the dispatcher if it is now first.
func (s *scheduler) push(at int64, host int32) {
	s.mu.Lock()
	s.heap = append(s.heap, slot{at, host})
	i := len(s.heap) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s.heap[i], s.heap[p] = s.heap[p], s.heap[i]
		i = p
	}
	first := i == 0
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *scheduler) less(i, j int) bool {
	a, b := s.heap[i], s.heap[j]
	return a.at < b.at || (a.at == b.at && a.host < b.host)
}

// popDue removes and returns the earliest entry if it is due at now (or
// any entry if force), with its time; otherwise it returns how long until
// the earliest is due (ok false, wait -1 when the heap is empty).
func (s *scheduler) popDue(now int64, force bool) (host int32, at, wait int64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.heap) == 0 {
		return 0, 0, -1, false
	}
	top := s.heap[0]
	if !force && top.at > now {
		return 0, 0, top.at - now, false
	}
	last := len(s.heap) - 1
	s.heap[0] = s.heap[last]
	s.heap = s.heap[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && s.less(l, m) {
			m = l
		}
		if r < last && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s.heap[i], s.heap[m] = s.heap[m], s.heap[i]
		i = m
	}
	return top.host, top.at, 0, true
}

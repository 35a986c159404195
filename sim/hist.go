package sim

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records durations in log-linear buckets, like an HDR
// histogram with two significant binary digits more than a power of two:
// values below 64ns are exact, larger ones fall in one of 32 buckets per
// power of two, so a reported percentile is within about 3% of the true
// value. Recording is lock-free and allocation-free; the zero value is
// ready to use and its size is fixed whatever the number of samples.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // nanoseconds
	max    atomic.Uint64
}

const (
	subBits    = 5
	subBuckets = 1 << subBits // per power of two
	// Values < 2*subBuckets are exact; each further power of two up to
	// 2^64 adds subBuckets buckets.
	numBuckets = 2*subBuckets + (64-subBits-1-1)*subBuckets + subBuckets
)

func bucketOf(v uint64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1 // v>>e is in [subBuckets, 2*subBuckets)
	return 2*subBuckets + (e-1)*subBuckets + int(v>>e) - subBuckets
}

// bucketHigh is the largest value that falls in bucket i.
func bucketHigh(i int) uint64 {
	if i < 2*subBuckets {
		return uint64(i)
	}
	e := (i-2*subBuckets)/subBuckets + 1
	m := uint64((i-2*subBuckets)%subBuckets + subBuckets)
	return (m+1)<<e - 1
}

// Record adds one sample; negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max returns the largest sample.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean returns the average sample.
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the value at or below which a fraction q (0..1) of the
// samples fall: the top of the bucket that holds it, never above Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999)
	rank = min(max(rank, 1), n)
	var seen uint64
	mx := h.max.Load()
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(min(bucketHigh(i), mx))
		}
	}
	return time.Duration(mx)
}

package sim

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 20, 1<<40 + 12345, 1<<63 + 1, ^uint64(0)} {
		i := bucketOf(v)
		if i < prev || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d (previous %d)", v, i, prev)
		}
		prev = i
		if hi := bucketHigh(i); hi < v || (i > 0 && bucketHigh(i-1) >= v) {
			t.Fatalf("value %d in bucket %d whose range ends at %d (previous ends at %d)", v, i, hi, bucketHigh(i-1))
		}
	}
	for i := 1; i < numBuckets; i++ {
		if bucketOf(bucketHigh(i-1)+1) != i {
			t.Fatalf("bucket %d does not start after bucket %d", i, i-1)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram")
	}
	var samples []time.Duration
	for range 100000 {
		d := time.Duration(rand.ExpFloat64() * float64(2*time.Millisecond))
		samples = append(samples, d)
		h.Record(d)
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := samples[int(q*float64(len(samples)))-1]
		got := h.Quantile(q)
		if got < want || float64(got) > float64(want)*1.035 {
			t.Errorf("p%g = %v, want %v (+3.5%%)", q*100, got, want)
		}
	}
	if h.Max() != samples[len(samples)-1] || h.Quantile(1) != h.Max() || h.Count() != 100000 {
		t.Errorf("max %v, want %v; count %d", h.Max(), samples[len(samples)-1], h.Count())
	}
}

func TestSchedulerOrder(t *testing.T) {
	s := newScheduler(0)
	var want []int64
	for i := range 1000 {
		at := rand.Int64N(1e6)
		s.push(at, int32(i))
		want = append(want, at)
	}
	slices.Sort(want)
	if _, _, wait, ok := s.popDue(want[0]-1, false); ok || wait != 1 {
		t.Fatalf("popped before due (wait %d)", wait)
	}
	seen := map[int32]bool{}
	for i := range want {
		h, at, _, ok := s.popDue(want[i], false)
		if !ok || seen[h] || at != want[i] {
			t.Fatalf("pop %d: host %d ok %v", i, h, ok)
		}
		seen[h] = true
	}
	if _, _, wait, ok := s.popDue(1e9, true); ok || wait != -1 || s.len() != 0 {
		t.Fatal("empty scheduler returned a host")
	}
}

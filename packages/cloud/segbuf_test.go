package cloud

import "testing"

func TestSegmentBuffers(t *testing.T) {
	b := &segmentBuffers{max: 2}
	b.begin()
	x := b.get(100)
	if len(x) != 100 {
		t.Fatalf("len %d", len(x))
	}
	x[0] = 1
	b.put(x)
	if y := b.get(50); &y[:1][0] != &x[0] {
		t.Fatal("a returned buffer big enough was not reused")
	}
	if y := b.get(1000); cap(y) < 1000 {
		t.Fatal("a buffer too small was handed out")
	}
	for range 3 {
		b.put(make([]byte, 10))
	}
	if len(b.free) != 2 {
		t.Fatalf("keeps %d buffers, want at most 2", len(b.free))
	}
	b.end()
	if b.free != nil {
		t.Fatal("buffers kept after the last put ended")
	}
	b.put(make([]byte, 10))
	if b.free != nil {
		t.Fatal("a buffer kept while no put runs")
	}
}

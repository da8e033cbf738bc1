package cloud

import "sync"

// segmentBuffers recycles the large buffers puts work in (a segment with
// its parity, about 1.5 segment sizes each) from one segment to the next:
// fresh ones for every segment made garbage faster than the GC returned it,
// and the box's RSS grew to twice what was in use. It keeps at most max
// buffers, and none once no put is running, so an idle box holds nothing.
type segmentBuffers struct {
	mu     sync.Mutex
	free   [][]byte
	max    int
	active int // puts using the buffers
}

// begin and end bracket a put.
func (b *segmentBuffers) begin() {
	b.mu.Lock()
	b.active++
	b.mu.Unlock()
}

func (b *segmentBuffers) end() {
	b.mu.Lock()
	b.active--
	if b.active == 0 {
		b.free = nil
	}
	b.mu.Unlock()
}

// get returns a buffer of length size, with any contents.
func (b *segmentBuffers) get(size int) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.free) - 1; i >= 0; i-- {
		if buf := b.free[i]; cap(buf) >= size {
			b.free = append(b.free[:i], b.free[i+1:]...)
			return buf[:size]
		}
	}
	return make([]byte, size)
}

// put gives back a buffer from get; its contents may be overwritten at once.
func (b *segmentBuffers) put(buf []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.active > 0 && len(b.free) < b.max {
		b.free = append(b.free, buf[:cap(buf)])
	}
}

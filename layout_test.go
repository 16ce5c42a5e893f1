package infuse

import (
	"testing"
	"unsafe"
)

// The hot path's false-sharing guards hold only if the sizes are right.
func TestEpochFillsWholeCacheLines(t *testing.T) {
	if size := unsafe.Sizeof(epoch{}); size%64 != 0 {
		t.Fatalf("epoch is %d bytes; fix epochPad so it is a multiple of 64", size)
	}
}

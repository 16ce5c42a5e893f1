package infuse_test

import (
	"sync"
	"sync/atomic"
)

// runParallel runs fn n times on each of g goroutines and waits for all.
func runParallel(g, n int, fn func()) {
	var wg sync.WaitGroup
	for range g {
		wg.Go(func() {
			for range n {
				fn()
			}
		})
	}
	wg.Wait()
}

type atomicCount struct{ n atomic.Int64 }

func (c *atomicCount) add()       { c.n.Add(1) }
func (c *atomicCount) get() int64 { return c.n.Load() }

// Package shed turns a share of calls into rejections, for the features
// that reject while a breaker is closed (throttling, the recovery ramp).
package shed

import "sync/atomic"

// An Accumulator adds the share to shed, in 1/2^32 units, call by call; a
// call whose addition crosses a multiple of 2^32 is shed. So the share
// shed is the share asked for to within one call, deterministically,
// without a random number per call. The zero value is ready.
type Accumulator struct {
	acc atomic.Uint64
}

// Scaled is share p (between 0 and 1) in the accumulator's units.
func Scaled(p float64) uint64 { return uint64(p * (1 << 32)) }

// Shed tells whether this call is one that the share inc (Scaled) sheds.
func (a *Accumulator) Shed(inc uint64) bool {
	if inc == 0 {
		return false
	}
	n := a.acc.Add(inc)
	return n>>32 != (n-inc)>>32
}

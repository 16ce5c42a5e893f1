package infuse

import "reflect"

// safePredicate runs a user predicate; one that panics excludes nothing.
func safePredicate(f func(error) bool, err error) (excluded bool) {
	defer func() {
		if recover() != nil {
			excluded = false
		}
	}()
	return f(err)
}

// AddExcluded adds errors (matched with errors.Is) that count as successes.
// nil errors are ignored.
func (b *Breaker) AddExcluded(errs ...error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var next []error
	x := b.extra()
	if cur := x.exclude.Load(); cur != nil {
		next = append(next, *cur...)
	}
	for _, e := range errs {
		if e != nil {
			next = append(next, e)
		}
	}
	if len(next) > 0 {
		x.exclude.Store(&next)
	}
}

// RemoveExcluded removes errors added by Config.Exclude or AddExcluded.
// An error is removed if it is the same value (==) as one given.
func (b *Breaker) RemoveExcluded(errs ...error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	x := b.more.Load()
	if x == nil || x.exclude.Load() == nil {
		return
	}
	cur := x.exclude.Load()
	var kept []error
	for _, have := range *cur {
		drop := false
		for _, e := range errs {
			if sameError(have, e) {
				drop = true
				break
			}
		}
		if !drop {
			kept = append(kept, have)
		}
	}
	if len(kept) == 0 {
		x.exclude.Store(nil)
	} else {
		x.exclude.Store(&kept)
	}
}

// Excluded returns the errors currently excluded, in the order added.
func (b *Breaker) Excluded() []error {
	if x := b.more.Load(); x != nil {
		if cur := x.exclude.Load(); cur != nil {
			return append([]error(nil), *cur...)
		}
	}
	return nil
}

// sameError is a == b without the panic == raises on uncomparable
// dynamic types.
func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb || !ta.Comparable() {
		return false
	}
	return a == b
}

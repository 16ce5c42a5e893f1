package infusesim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/infuse-go/infuse"
)

// The recording format, version 1. A recording is UTF-8-agnostic text, one
// item a line, each line ended by "\n":
//
//	infuse-recording v1
//	1767225600000000000 "payments" ok 1250000
//	1767225600002000000 "payments" fail 30000000
//	1767225600004000000 "payments" rejected 0
//	end 3 0
//
// The first line names the format and its version. Each record line is
// four fields separated by one space: the time the call was attempted, in
// Unix nanoseconds (decimal); the breaker's name as a double-quoted Go
// string literal (strconv.Quote: any bytes survive, a line break is
// escaped, a space is kept, and the literal's closing quote ends the
// field); the outcome, one of ok, fail, ignored, rejected (see
// Outcome); and how long the function ran, in nanoseconds (0 for a
// rejection). The last line, written when the Recorder is closed, gives the
// number of records written and the number dropped past the byte cap. A
// recording without it was not closed (the process stopped); its records
// are still good. Lines are in the order the calls were recorded, which
// is not quite the order of their times when calls run concurrently.
const recordingHeader = "infuse-recording v1"

// Outcome is what became of a recorded call.
type Outcome uint8

const (
	// Succeeded: the function ran and the breaker counted a success (nil,
	// or an excluded error). Written "ok".
	Succeeded Outcome = iota + 1
	// Failed: the function ran and counted as a failure (an error, or a
	// panic). Written "fail".
	Failed
	// Ignored: the function ran, and the caller's own cancellation made it
	// count as neither. Written "ignored".
	Ignored
	// Rejected: the breaker refused the call with ErrOpen; the function did
	// not run. Written "rejected". Recording rejections is what tells a
	// replay the load that was offered, not only the load admitted.
	Rejected
)

var outcomeWords = [...]string{Succeeded: "ok", Failed: "fail", Ignored: "ignored", Rejected: "rejected"}

// String returns the outcome's word in the recording format.
func (o Outcome) String() string {
	if o >= Succeeded && o <= Rejected {
		return outcomeWords[o]
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Record is one recorded call.
type Record struct {
	// Time is when the call was attempted. It must lie between the years
	// 1678 and 2262 (what Unix nanoseconds hold).
	Time time.Time
	// Name is the breaker's name; not empty.
	Name string
	// Outcome is what became of the call.
	Outcome Outcome
	// Latency is how long the function ran; 0 for a rejection.
	Latency time.Duration
}

var (
	minRecordTime = time.Unix(0, math.MinInt64)
	maxRecordTime = time.Unix(0, math.MaxInt64)
)

// check returns an error naming what is wrong with rec, or nil.
func (rec Record) check() error {
	switch {
	case rec.Name == "":
		return errors.New("infusesim: a record needs a Name")
	case rec.Outcome < Succeeded || rec.Outcome > Rejected:
		return fmt.Errorf("infusesim: a record's Outcome is %v", rec.Outcome)
	case rec.Latency < 0:
		return fmt.Errorf("infusesim: a record's Latency is %v; want 0 or more", rec.Latency)
	case rec.Time.Before(minRecordTime) || rec.Time.After(maxRecordTime):
		return fmt.Errorf("infusesim: a record's Time %v is outside what Unix nanoseconds hold", rec.Time)
	}
	return nil
}

// appendRecord appends rec's line to buf.
func appendRecord(buf []byte, rec Record) []byte {
	buf = strconv.AppendInt(buf, rec.Time.UnixNano(), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendQuote(buf, rec.Name)
	buf = append(buf, ' ')
	buf = append(buf, outcomeWords[rec.Outcome]...)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, int64(rec.Latency), 10)
	return append(buf, '\n')
}

const (
	// defaultMaxBytes is a recording's cap when RecorderOptions.MaxBytes
	// is 0: about a million records of a short name.
	defaultMaxBytes = 64 << 20
	// minMaxBytes is the least cap: the header, a record and the end line.
	minMaxBytes = 256
	// maxLine bounds one line, newline included; a record with a longer
	// line (a name of more than 16 KiB at worst) is dropped.
	maxLine = 64 << 10
	// endReserve is kept free for the end line: "end", two int64 and
	// their spaces and newline.
	endReserve = 3 + 2*21 + 1
	// flushAt is how much the Recorder buffers before it writes.
	flushAt = 64 << 10
)

// ErrRecordingFull is what Recorder.Add returns for a record it dropped
// because the recording reached its byte cap.
var ErrRecordingFull = errors.New("infusesim: the recording is full")

// ErrRecorderClosed is what Recorder.Add returns after Close.
var ErrRecorderClosed = errors.New("infusesim: the recorder is closed")

// RecorderOptions configure a Recorder. The zero value records up to
// 64 MiB on the real clock.
type RecorderOptions struct {
	// MaxBytes caps the recording's size, every line included: once a
	// record would pass it (keeping room for the end line), records are
	// dropped and counted. 0 means 64 MiB; at least 256.
	MaxBytes int64
	// Clock times the calls. nil means the real clock.
	Clock infuse.Clock
	// ExcludeFunc is the breaker's Config.ExcludeFunc, if it has one: a
	// Recorder sees a breaker's Exclude list (Breaker.Excluded) but not its
	// predicate, and errors it excludes are recorded as successes, as the
	// breaker counts them.
	ExcludeFunc func(error) bool
}

// Recorder writes the calls made through breakers to a recording, for
// Replay. Attach it by making the calls through it: Recorder.Call in place
// of Breaker.Call, Recorder.Allow in place of Breaker.Allow, or Add for
// records made elsewhere. It records each call's time, breaker name,
// outcome (as the breaker counted it) and latency, and each rejection.
//
// A Recorder is safe for concurrent use and cheap: a record is formatted
// into a buffer under a mutex, without allocating, and the buffer goes to
// the writer every 64 KiB (on the caller that fills it) and on Flush and
// Close. Call and Allow cost two clock readings and one small allocation
// (the closure they hand the breaker, or return) beside the breaker's own
// call. It never writes more than its byte cap; what it drops past the cap
// it counts (Dropped) and writes in the recording's end line.
type Recorder struct {
	w       io.Writer
	file    *os.File // set by CreateRecorder: Close closes it
	clock   infuse.Clock
	exclude func(error) bool
	max     int64

	mu      sync.Mutex
	buf     []byte
	size    int64 // bytes accepted, the header included
	records int64
	dropped int64
	err     error // the first write error
	closed  bool
}

// NewRecorder returns a Recorder writing to w. It writes the header line
// on the first flush. Close it to write the end line; it does not close w.
func NewRecorder(w io.Writer, opts RecorderOptions) (*Recorder, error) {
	switch {
	case w == nil:
		return nil, errors.New("infusesim: NewRecorder needs a writer")
	case opts.MaxBytes == 0:
		opts.MaxBytes = defaultMaxBytes
	case opts.MaxBytes < minMaxBytes:
		return nil, fmt.Errorf("infusesim: MaxBytes is %d; want 0 (64 MiB) or at least %d", opts.MaxBytes, minMaxBytes)
	}
	r := &Recorder{w: w, clock: opts.Clock, exclude: opts.ExcludeFunc, max: opts.MaxBytes}
	r.buf = append(make([]byte, 0, 4<<10), recordingHeader+"\n"...)
	r.size = int64(len(r.buf))
	return r, nil
}

// CreateRecorder creates (or truncates) the file at path and returns a
// Recorder writing to it; Close closes the file too.
func CreateRecorder(path string, opts RecorderOptions) (*Recorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("infusesim: %w", err)
	}
	r, err := NewRecorder(f, opts)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	r.file = f
	return r, nil
}

// now and since time calls on the Recorder's clock: the real one with its
// monotonic reading, so a latency never goes negative.
func (r *Recorder) now() time.Time {
	if r.clock == nil {
		return time.Now()
	}
	return r.clock.Now()
}

func (r *Recorder) since(t time.Time) time.Duration {
	return max(r.now().Sub(t), 0)
}

// Call is b.Call(ctx, fn), recorded: the call, its outcome and latency, or
// its rejection. A call that does not run for another reason (a done ctx,
// a nil argument) is not recorded.
func (r *Recorder) Call(ctx context.Context, b *infuse.Breaker, fn func(context.Context) error) error {
	ran := false
	err := b.Call(ctx, func(ctx context.Context) (err error) {
		ran = true
		start := r.now()
		finished := false
		defer func() {
			if finished {
				_ = r.Add(Record{Time: start, Name: b.Name(), Outcome: r.classify(b, ctx.Err() != nil, err), Latency: r.since(start)})
				return
			}
			// A panic counts as a failure, and goes on; runtime.Goexit
			// (nothing to recover) counts as nothing, as the breaker has it.
			v := recover()
			o := Failed
			if v == nil {
				o = Ignored
			}
			_ = r.Add(Record{Time: start, Name: b.Name(), Outcome: o, Latency: r.since(start)})
			if v != nil {
				panic(v)
			}
		}()
		err = fn(ctx)
		finished = true
		return err
	})
	if !ran && errors.Is(err, infuse.ErrOpen) {
		_ = r.Add(Record{Time: r.now(), Name: b.Name(), Outcome: Rejected})
	}
	return err
}

// Allow is b.Allow(ctx), recorded: the done it returns records the call's
// outcome and latency (from Allow's return to done) before passing err on
// to the breaker's own done.
func (r *Recorder) Allow(ctx context.Context, b *infuse.Breaker) (done func(err error), err error) {
	inner, err := b.Allow(ctx)
	if err != nil {
		if errors.Is(err, infuse.ErrOpen) {
			_ = r.Add(Record{Time: r.now(), Name: b.Name(), Outcome: Rejected})
		}
		return nil, err
	}
	start := r.now()
	return func(err error) {
		// Allow's done cannot see the caller's context: it takes
		// context.Canceled for the caller's own cancellation.
		_ = r.Add(Record{Time: start, Name: b.Name(), Outcome: r.classify(b, true, err), Latency: r.since(start)})
		inner(err)
	}, nil
}

// classify tells what the breaker counts err as; ctxDone tells that the
// caller's context is done.
func (r *Recorder) classify(b *infuse.Breaker, ctxDone bool, err error) Outcome {
	switch {
	case err == nil:
		return Succeeded
	case ctxDone && errors.Is(err, context.Canceled):
		return Ignored
	}
	for _, x := range b.Excluded() {
		if errors.Is(err, x) {
			return Succeeded
		}
	}
	if r.exclude != nil && r.exclude(err) {
		return Succeeded
	}
	return Failed
}

// Add writes rec. It returns an error for an invalid record (not written,
// not counted), ErrRecordingFull when the cap leaves no room for it,
// ErrRecorderClosed after Close, or the writer's error when an earlier
// write failed; the last three count it as dropped.
func (r *Recorder) Add(rec Record) error {
	if err := rec.check(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		r.dropped++
		return ErrRecorderClosed
	case r.err != nil:
		r.dropped++
		return r.err
	}
	n0 := len(r.buf)
	r.buf = appendRecord(r.buf, rec)
	n := int64(len(r.buf) - n0)
	if n > maxLine || r.size+n > r.max-endReserve {
		r.buf = r.buf[:n0]
		r.dropped++
		return ErrRecordingFull
	}
	r.size += n
	r.records++
	if len(r.buf) >= flushAt {
		r.flushLocked()
	}
	return nil
}

// Dropped returns the number of records dropped so far: past the cap,
// after a write error, or after Close.
func (r *Recorder) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Records returns the number of records written (or buffered) so far.
func (r *Recorder) Records() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.records
}

// Flush writes what is buffered and returns the first write error, if
// any.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushLocked()
	return r.err
}

func (r *Recorder) flushLocked() {
	if len(r.buf) == 0 || r.err != nil {
		return
	}
	if _, err := r.w.Write(r.buf); err != nil {
		r.err = fmt.Errorf("infusesim: writing the recording: %w", err)
	}
	r.buf = r.buf[:0]
}

// Close writes what is buffered and the end line, closes the file of a
// CreateRecorder, and returns the first error. Records added later are
// dropped. Closing twice returns nil.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.buf = fmt.Appendf(r.buf, "end %d %d\n", r.records, r.dropped)
	r.flushLocked()
	r.buf = nil
	err := r.err
	if r.file != nil {
		if cerr := r.file.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("infusesim: closing the recording: %w", cerr)
		}
	}
	return err
}

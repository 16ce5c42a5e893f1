package infusesim_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusesim"
	"github.com/infuse-go/infuse/infusetest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// sameRecords compares records with time.Time.Equal.
func sameRecords(a, b []infusesim.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Time.Equal(b[i].Time) || a[i].Name != b[i].Name || a[i].Outcome != b[i].Outcome || a[i].Latency != b[i].Latency {
			return false
		}
	}
	return true
}

func write(t testing.TB, opts infusesim.RecorderOptions, recs ...infusesim.Record) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	r, err := infusesim.NewRecorder(&buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := r.Add(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func TestRecordingRoundTripsAnyName(t *testing.T) {
	var recs []infusesim.Record
	for i, name := range []string{"payments", "with space", `"quoted"`, "line\nbreak", "tab\tand\\", "\x00\xff", "héllo ✓", "end 1 2", "}x{"} {
		o := infusesim.Outcome(i%4 + 1)
		lat := time.Duration(i) * time.Millisecond
		if o == infusesim.Rejected {
			lat = 0
		}
		recs = append(recs, infusesim.Record{Time: t0.Add(time.Duration(i) * time.Microsecond), Name: name, Outcome: o, Latency: lat})
	}
	recs = append(recs, infusesim.Record{Time: time.Unix(0, -5), Name: "before 1970", Outcome: infusesim.Succeeded})
	buf := write(t, infusesim.RecorderOptions{}, recs...)
	if !strings.HasPrefix(buf.String(), "infuse-recording v1\n") || !strings.HasSuffix(buf.String(), "\nend 10 0\n") {
		t.Fatalf("recording:\n%s", buf)
	}
	got, err := infusesim.ReadRecording(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !sameRecords(got.Records, recs) || !got.Complete || got.Dropped != 0 {
		t.Fatalf("read back %+v\nwant %+v", got, recs)
	}
}

func TestRecordingNeverPassesItsCap(t *testing.T) {
	const limit = 1024
	var buf bytes.Buffer
	r, err := infusesim.NewRecorder(&buf, infusesim.RecorderOptions{MaxBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	written, full := 0, 0
	for i := range 200 {
		err := r.Add(infusesim.Record{Time: t0.Add(time.Duration(i)), Name: "payments", Outcome: infusesim.Failed, Latency: time.Millisecond})
		switch {
		case err == nil:
			written++
		case errors.Is(err, infusesim.ErrRecordingFull):
			full++
		default:
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > limit || written == 0 || full == 0 || r.Dropped() != int64(full) {
		t.Fatalf("%d bytes for a cap of %d; %d written, %d dropped (Dropped %d)", buf.Len(), limit, written, full, r.Dropped())
	}
	got, err := infusesim.ReadRecording(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Records) != written || got.Dropped != int64(full) || !got.Complete {
		t.Fatalf("read %d records, %d dropped, complete %v; want %d, %d, true", len(got.Records), got.Dropped, got.Complete, written, full)
	}
	if err := r.Add(infusesim.Record{Time: t0, Name: "late", Outcome: infusesim.Succeeded}); !errors.Is(err, infusesim.ErrRecorderClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	// A name too long for a line is dropped, not written.
	var small bytes.Buffer
	r, _ = infusesim.NewRecorder(&small, infusesim.RecorderOptions{})
	if err := r.Add(infusesim.Record{Time: t0, Name: strings.Repeat("\x01", 20000), Outcome: infusesim.Failed}); !errors.Is(err, infusesim.ErrRecordingFull) {
		t.Fatalf("a 80 KB line: %v", err)
	}
}

func TestRecorderRefusesInvalidRecordsAndOptions(t *testing.T) {
	r, _ := infusesim.NewRecorder(io.Discard, infusesim.RecorderOptions{})
	for _, rec := range []infusesim.Record{
		{Time: t0, Outcome: infusesim.Failed},
		{Time: t0, Name: "x"},
		{Time: t0, Name: "x", Outcome: 9},
		{Time: t0, Name: "x", Outcome: infusesim.Failed, Latency: -1},
		{Name: "x", Outcome: infusesim.Failed}, // the zero time
	} {
		if err := r.Add(rec); err == nil || errors.Is(err, infusesim.ErrRecordingFull) {
			t.Errorf("Add(%+v) = %v, want an error about the record", rec, err)
		}
	}
	if r.Dropped() != 0 {
		t.Errorf("invalid records counted as dropped: %d", r.Dropped())
	}
	if _, err := infusesim.NewRecorder(io.Discard, infusesim.RecorderOptions{MaxBytes: 100}); err == nil {
		t.Error("a 100-byte cap: no error")
	}
	if _, err := infusesim.NewRecorder(nil, infusesim.RecorderOptions{}); err == nil {
		t.Error("no writer: no error")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRecorderReportsAWriteError(t *testing.T) {
	r, _ := infusesim.NewRecorder(failingWriter{}, infusesim.RecorderOptions{})
	_ = r.Add(infusesim.Record{Time: t0, Name: "x", Outcome: infusesim.Succeeded})
	if err := r.Flush(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Flush: %v", err)
	}
	if err := r.Add(infusesim.Record{Time: t0, Name: "x", Outcome: infusesim.Succeeded}); err == nil {
		t.Fatal("Add after a write error: no error")
	}
	if err := r.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close: %v", err)
	}
}

var errDown = errors.New("down")
var errNotFound = errors.New("not found")

// A breaker's calls through Recorder.Call and Recorder.Allow, on a
// virtual clock: outcomes as the breaker counts them, latencies, and
// rejections.
func TestRecorderRecordsWhatTheBreakerCounts(t *testing.T) {
	clock := infusetest.NewClock()
	gone := func(err error) bool { return err.Error() == "gone" }
	b, err := infuse.New(infuse.Config{Name: "inventory", FailMax: 2, ResetTimeout: time.Minute, Clock: clock,
		Exclude: []error{errNotFound}, ExcludeFunc: gone})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	r, _ := infusesim.NewRecorder(&buf, infusesim.RecorderOptions{Clock: clock, ExcludeFunc: gone})
	ctx := context.Background()
	takes := func(d time.Duration, err error) func(context.Context) error {
		return func(context.Context) error { clock.Advance(d); return err }
	}
	start := clock.Now()
	_ = r.Call(ctx, b, takes(3*time.Millisecond, nil))
	_ = r.Call(ctx, b, takes(time.Millisecond, errNotFound))        // excluded by the breaker
	_ = r.Call(ctx, b, takes(time.Millisecond, errors.New("gone"))) // excluded by the predicate
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_ = r.Call(cctx, b, takes(0, context.Canceled)) // does not run: ctx done, nothing recorded
	cctx, cancel = context.WithCancel(ctx)
	_ = r.Call(cctx, b, func(context.Context) error { clock.Advance(time.Millisecond); cancel(); return context.Canceled })
	func() {
		defer func() {
			if recover() != "boom" {
				t.Fatal("the panic did not go on")
			}
		}()
		_ = r.Call(ctx, b, func(context.Context) error { panic("boom") })
	}()
	done, err := r.Allow(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(7 * time.Millisecond)
	done(errDown) // the second failure: it trips
	if b.State() != infuse.Open {
		t.Fatalf("the breaker is %v; the recorder's done did not reach it", b.State())
	}
	if err := r.Call(ctx, b, takes(0, nil)); !errors.Is(err, infuse.ErrOpen) {
		t.Fatal(err)
	}
	if _, err := r.Allow(ctx, b); !errors.Is(err, infuse.ErrOpen) {
		t.Fatal(err)
	}
	_ = r.Close()
	got, err := infusesim.ReadRecording(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		o   infusesim.Outcome
		lat time.Duration
	}{
		{infusesim.Succeeded, 3 * time.Millisecond},
		{infusesim.Succeeded, time.Millisecond},
		{infusesim.Succeeded, time.Millisecond},
		{infusesim.Ignored, time.Millisecond},
		{infusesim.Failed, 0},
		{infusesim.Failed, 7 * time.Millisecond},
		{infusesim.Rejected, 0},
		{infusesim.Rejected, 0},
	}
	if len(got.Records) != len(want) {
		t.Fatalf("%d records, want %d:\n%s", len(got.Records), len(want), buf.String())
	}
	for i, w := range want {
		g := got.Records[i]
		if g.Outcome != w.o || g.Latency != w.lat || g.Name != "inventory" || g.Time.Before(start) {
			t.Errorf("record %d = %+v, want %v taking %v", i, g, w.o, w.lat)
		}
	}
}

func TestRecorderIsSafeForConcurrentUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "calls.rec")
	r, err := infusesim.CreateRecorder(path, infusesim.RecorderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		b, _ := infuse.New(infuse.Config{Name: fmt.Sprintf("caller %d", g), FailMax: 1 << 20})
		wg.Go(func() {
			for i := range 500 {
				_ = r.Call(context.Background(), b, func(context.Context) error {
					if (g+i)%3 == 0 {
						return errDown
					}
					return nil
				})
			}
		})
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := infusesim.ReadRecordingFile(path)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	names := map[string]int{}
	for _, rec := range got.Records {
		if rec.Outcome == infusesim.Failed {
			failed++
		}
		names[rec.Name]++
	}
	if len(got.Records) != 4000 || failed == 0 || !got.Complete || len(names) != 8 || names["caller 3"] != 500 {
		t.Fatalf("%d records, %d failed, complete %v, names %v", len(got.Records), failed, got.Complete, names)
	}
	if _, err := infusesim.ReadRecordingFile(filepath.Join(t.TempDir(), "nosuch")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing file: %v", err)
	}
}

func TestDecoderNamesTheLineOfEachError(t *testing.T) {
	const head = "infuse-recording v1\n"
	const good = `1 "a" ok 5` + "\n"
	for _, c := range []struct {
		name, in string
		line     int
		want     string
	}{
		{"empty", "", 1, "empty"},
		{"not a recording", "hello\n", 1, "not an infuse recording"},
		{"another version", "infuse-recording v2\n", 1, `version "v2" is not supported`},
		{"one field", head + good + "12\n", 3, "four fields"},
		{"bad time", head + `x "a" ok 5` + "\n", 2, "time"},
		{"plus sign", head + `+1 "a" ok 5` + "\n", 2, "plus sign"},
		{"time overflows", head + `99999999999999999999 "a" ok 5` + "\n", 2, "fits 64 bits"},
		{"unquoted name", head + "1 a ok 5\n", 2, "double-quoted"},
		{"raw string name", head + "1 `a` ok 5\n", 2, "double-quoted"},
		{"unterminated name", head + `1 "a ok 5` + "\n", 2, "not a valid Go string"},
		{"empty name", head + `1 "" ok 5` + "\n", 2, "non-empty"},
		{"bad outcome", head + `1 "a" maybe 5` + "\n", 2, `outcome "maybe"`},
		{"negative latency", head + `1 "a" ok -5` + "\n", 2, "negative"},
		{"two spaces", head + `1 "a"  ok 5` + "\n", 2, "one space"},
		{"extra field", head + `1 "a" ok 5 6` + "\n", 2, "one space"},
		{"no newline", head + `1 "a" ok 5`, 2, "cut short"},
		{"crlf", head + `1 "a" ok 5` + "\r\n", 2, "latency"},
		{"blank line", head + "\n", 2, "four fields"},
		{"end count wrong", head + good + "end 2 0\n", 3, "counts 2 records"},
		{"end not numbers", head + "end x 0\n", 2, "record count"},
		{"end negative", head + "end 0 -1\n", 2, "negative"},
		{"after the end", head + "end 0 0\n" + good, 3, "after the end line"},
		{"too long", head + strings.Repeat("x", 70000) + "\n", 2, "longer than"},
	} {
		rec, err := infusesim.ReadRecording(strings.NewReader(c.in))
		var fe *infusesim.FormatError
		if !errors.As(err, &fe) || fe.Line != c.line || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want a *FormatError at line %d saying %q", c.name, err, c.line, c.want)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("line %d:", c.line)) {
			t.Errorf("%s: %q does not name the line", c.name, err)
		}
		if strings.HasPrefix(c.name, "end count") && len(rec.Records) != 1 {
			t.Errorf("%s: the records before the error were not returned: %+v", c.name, rec)
		}
	}
	// Without its end line, a recording reads, and says it is incomplete.
	got, err := infusesim.ReadRecording(strings.NewReader(head + good))
	if err != nil || got.Complete || len(got.Records) != 1 {
		t.Fatalf("a recording cut after a whole line: %+v, %v", got, err)
	}
	// The error sticks.
	d := infusesim.NewDecoder(strings.NewReader("bad\n"))
	_, err1 := d.Next()
	_, err2 := d.Next()
	if err1 == nil || err1 != err2 {
		t.Fatalf("errors %v then %v", err1, err2)
	}
}

// The decoder never panics; what it reads, the recorder writes back the
// same; and any record the recorder writes reads back as it was.
func FuzzReadRecording(f *testing.F) {
	f.Add([]byte("infuse-recording v1\n1 \"a\" ok 5\nend 1 0\n"), "payments", int64(1767225600000000000), int64(1500000), uint8(2))
	f.Add([]byte("infuse-recording v1\n-1 \"\\x00\\xff\" rejected 0\n"), "\x00\xff", int64(-1), int64(0), uint8(4))
	f.Add([]byte("infuse-recording v1\nend 0 7\n"), "a \"b\"\nc", int64(0), int64(0), uint8(3))
	f.Add([]byte("infuse-recording v2\n"), "", int64(5), int64(-5), uint8(9))
	f.Fuzz(func(t *testing.T, data []byte, name string, nanos, latency int64, outcome uint8) {
		if got, err := infusesim.ReadRecording(bytes.NewReader(data)); err == nil {
			var buf bytes.Buffer
			r, _ := infusesim.NewRecorder(&buf, infusesim.RecorderOptions{})
			var kept []infusesim.Record
			for _, rec := range got.Records {
				switch err := r.Add(rec); {
				case err == nil:
					kept = append(kept, rec)
				case !errors.Is(err, infusesim.ErrRecordingFull): // a name escaped longer than a line
					t.Fatalf("the recorder refuses a record the decoder read: %+v: %v", rec, err)
				}
			}
			_ = r.Close()
			again, err := infusesim.ReadRecording(&buf)
			if err != nil {
				t.Fatalf("what the decoder read does not read back: %v", err)
			}
			if !sameRecords(again.Records, kept) {
				t.Fatalf("read back %+v, want %+v", again.Records, kept)
			}
		}
		rec := infusesim.Record{Time: time.Unix(0, nanos), Name: name, Outcome: infusesim.Outcome(outcome), Latency: time.Duration(latency)}
		var buf bytes.Buffer
		r, _ := infusesim.NewRecorder(&buf, infusesim.RecorderOptions{})
		if err := r.Add(rec); err != nil {
			return // an invalid record, or too long a line
		}
		_ = r.Close()
		back, err := infusesim.ReadRecording(&buf)
		if err != nil || !back.Complete || !sameRecords(back.Records, []infusesim.Record{rec}) {
			t.Fatalf("wrote %+v, read %+v, %v\n%q", rec, back, err, buf.String())
		}
	})
}

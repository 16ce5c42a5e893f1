package infusesim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// FormatError is a recording line the Decoder cannot read.
type FormatError struct {
	// Line numbers the line, from 1.
	Line int
	// Reason says what is wrong with it.
	Reason string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("infusesim: recording line %d: %s", e.Line, e.Reason)
}

// Decoder reads a recording, one record at a time.
type Decoder struct {
	r       *bufio.Reader
	line    int
	records int64
	dropped int64
	end     bool
	err     error
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, maxLine)}
}

// Next returns the next record; io.EOF after the last one (whether or not
// the recording has its end line: see Complete); a *FormatError for a line
// it cannot read, or the reader's error. An error other than io.EOF
// sticks: Next returns it again.
func (d *Decoder) Next() (Record, error) {
	if d.err != nil {
		return Record{}, d.err
	}
	rec, err := d.next()
	if err != nil {
		d.err = err
	}
	return rec, err
}

func (d *Decoder) fail(format string, args ...any) error {
	return &FormatError{Line: d.line, Reason: fmt.Sprintf(format, args...)}
}

func (d *Decoder) next() (Record, error) {
	for {
		line, err := d.readLine()
		if err != nil {
			return Record{}, err
		}
		switch {
		case d.line == 1:
			if err := d.header(line); err != nil {
				return Record{}, err
			}
			continue
		case d.end:
			return Record{}, d.fail("a line after the end line")
		case bytes.HasPrefix(line, []byte("end ")):
			if err := d.trailer(line); err != nil {
				return Record{}, err
			}
			continue
		}
		return d.record(line)
	}
}

// readLine returns the next line without its newline.
func (d *Decoder) readLine() ([]byte, error) {
	line, err := d.r.ReadSlice('\n')
	d.line++
	switch {
	case err == nil:
		return line[:len(line)-1], nil
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, d.fail("longer than %d bytes", maxLine)
	case err == io.EOF && len(line) == 0:
		if d.line == 1 {
			return nil, d.fail("empty: not an infuse recording")
		}
		return nil, io.EOF
	case err == io.EOF:
		return nil, d.fail("no newline at its end: the recording was cut short")
	}
	return nil, fmt.Errorf("infusesim: reading the recording: %w", err)
}

func (d *Decoder) header(line []byte) error {
	const prefix = "infuse-recording "
	switch {
	case string(line) == recordingHeader:
		return nil
	case bytes.HasPrefix(line, []byte(prefix)):
		return d.fail("version %q is not supported; this reader reads v1", truncate(line[len(prefix):]))
	}
	return d.fail("not an infuse recording: want the header %q, not %q", recordingHeader, truncate(line))
}

// truncate shortens what an error quotes.
func truncate(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

func (d *Decoder) trailer(line []byte) error {
	f := bytes.Split(line[len("end "):], []byte(" "))
	if len(f) != 2 {
		return d.fail("the end line needs two numbers: records and dropped")
	}
	recs, err1 := parseCount(f[0])
	dropped, err2 := parseCount(f[1])
	switch {
	case err1 != nil:
		return d.fail("the end line's record count: %v", err1)
	case err2 != nil:
		return d.fail("the end line's dropped count: %v", err2)
	case recs != d.records:
		return d.fail("the end line counts %d records; the recording holds %d", recs, d.records)
	}
	d.end, d.dropped = true, dropped
	return nil
}

// parseInt parses a decimal int64 as strconv.AppendInt writes it: an
// optional minus and digits, no plus sign, no spaces.
func parseInt(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, errors.New("empty")
	}
	if b[0] == '+' {
		return 0, fmt.Errorf("%q has a plus sign", truncate(b))
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a decimal integer that fits 64 bits", truncate(b))
	}
	return n, nil
}

func parseCount(b []byte) (int64, error) {
	n, err := parseInt(b)
	if err == nil && n < 0 {
		err = fmt.Errorf("%d is negative", n)
	}
	return n, err
}

// record parses a record line.
func (d *Decoder) record(line []byte) (Record, error) {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return Record{}, d.fail("want four fields: time, name, outcome, latency")
	}
	nanos, err := parseInt(line[:sp])
	if err != nil {
		return Record{}, d.fail("time: %v", err)
	}
	rest := line[sp+1:]
	if len(rest) == 0 || rest[0] != '"' {
		return Record{}, d.fail("name: want a double-quoted Go string after the time")
	}
	q, err := strconv.QuotedPrefix(string(rest))
	if err != nil {
		return Record{}, d.fail("name: not a valid Go string literal")
	}
	name, err := strconv.Unquote(q)
	if err != nil || name == "" {
		return Record{}, d.fail("name: want a non-empty Go string literal")
	}
	rest = rest[len(q):]
	f := bytes.Split(rest, []byte(" "))
	if len(f) != 3 || len(f[0]) != 0 {
		return Record{}, d.fail("want the outcome and latency after the name, each after one space")
	}
	var o Outcome
	for i, w := range outcomeWords {
		if w != "" && string(f[1]) == w {
			o = Outcome(i)
		}
	}
	if o == 0 {
		return Record{}, d.fail("outcome %q: want ok, fail, ignored or rejected", truncate(f[1]))
	}
	lat, err := parseCount(f[2])
	if err != nil {
		return Record{}, d.fail("latency: %v", err)
	}
	d.records++
	return Record{Time: time.Unix(0, nanos), Name: name, Outcome: o, Latency: time.Duration(lat)}, nil
}

// Complete reports whether the recording's end line has been read: the
// recorder was closed, and every record it wrote has been returned.
func (d *Decoder) Complete() bool { return d.end }

// Dropped returns the number of records the recorder dropped past its cap,
// as the end line says; 0 before it.
func (d *Decoder) Dropped() int64 { return d.dropped }

// Recording is a whole recording, read.
type Recording struct {
	Records []Record
	// Dropped is the number of records the recorder dropped past its cap.
	Dropped int64
	// Complete tells that the recording has its end line: the recorder
	// was closed.
	Complete bool
}

// ReadRecording reads a whole recording from r. On an error it returns
// the records read before it too.
func ReadRecording(r io.Reader) (Recording, error) {
	d := NewDecoder(r)
	var rec Recording
	for {
		x, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return rec, err
		}
		rec.Records = append(rec.Records, x)
	}
	rec.Dropped, rec.Complete = d.Dropped(), d.Complete()
	return rec, nil
}

// ReadRecordingFile reads the recording in the file at path.
func ReadRecordingFile(path string) (Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return Recording{}, fmt.Errorf("infusesim: %w", err)
	}
	defer f.Close()
	return ReadRecording(f)
}

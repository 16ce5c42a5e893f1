package infusesim

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/infuse-go/infuse"
)

// Picture is what WriteSVG draws: runs of one scenario or recording side
// by side, on one time axis, under the backend's phases.
type Picture struct {
	// Title heads the picture.
	Title string
	// Span is the time axis, from 0; 0 means the latest call's time.
	Span time.Duration
	// Phases are the backend's phases from 0 (Scenario.Phases, or
	// ReplayRun.Phases): outages are shaded, the more the higher their
	// ErrorRate. Empty for none.
	Phases []Phase
	// Panels are the runs, one under the other.
	Panels []Panel
}

// Panel is one run in a Picture: a candidate's calls and its members'
// state changes.
type Panel struct {
	// Title names the run (the candidate).
	Title string
	// Members is the number of members (or replayed breakers); Calls and
	// Changes number them from 0.
	Members int
	// Calls are the calls attempted, from Run.Calls or ReplayRun.Calls.
	Calls []Call
	// Changes are the members' state changes, from Run.Changes or
	// ReplayRun.Changes, in time order. A member starts in the From state
	// of its first change, and closed if it has none.
	Changes []Change
	// Labels, when set, name the members (ReplayRun.Names); they are drawn
	// where a member's band is tall enough to hold one.
	Labels []string
}

// Picture geometry, in SVG user units (pixels).
const (
	svgWidth     = 1000
	svgLeft      = 130 // room for labels
	svgRight     = 20
	svgPlotW     = svgWidth - svgLeft - svgRight
	svgBandH     = 120 // the members' states
	svgChartH    = 110 // calls a second
	svgRowsUpTo  = 60  // more members than this are drawn as shares
	svgRateSteps = 200 // buckets of the calls-a-second chart
)

var stateColors = [...]string{infuse.Closed: "#43a047", infuse.Open: "#e53935", infuse.HalfOpen: "#ffb300"}

// WriteSVG writes p as a self-contained SVG image: for each panel, every
// member's state over time (a band per member, or the shares of members
// open and half-open when there are more than 60), and the calls a second
// the members attempted that were admitted, rejected, and admitted to a
// failing backend; phases shaded behind. Every text is escaped for XML.
func WriteSVG(w io.Writer, p Picture) error {
	span := p.Span
	if span <= 0 {
		for _, pn := range p.Panels {
			for _, c := range pn.Calls {
				span = max(span, c.At)
			}
		}
	}
	span = max(span, time.Millisecond)
	d := &drawing{span: span, phases: p.Phases}

	// The chart's scale, shared by every panel so that they compare.
	step := max((span+svgRateSteps-1)/svgRateSteps, 1)
	rates := make([][3][]float64, len(p.Panels))
	top := 1.0
	for i, pn := range p.Panels {
		rates[i] = callRates(pn.Calls, span, step)
		for _, series := range rates[i] {
			for _, v := range series {
				top = max(top, v)
			}
		}
	}
	top = math.Pow(10, math.Ceil(math.Log10(top)))

	panelH := 24 + svgBandH + 12 + svgChartH + 22 + 18
	height := 40 + 20 + len(p.Panels)*panelH + 40
	fmt.Fprintf(&d.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&d.b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, height)
	d.text(svgLeft, 24, "font-size=\"15\" font-weight=\"bold\"", p.Title)

	y := 40
	d.phaseLabels(p.Phases, float64(y+14))
	y += 20
	for i, pn := range p.Panels {
		d.panel(pn, rates[i], top, y)
		y += panelH
	}
	d.legend(y + 10)
	d.b.WriteString("</svg>\n")
	_, err := io.WriteString(w, d.b.String())
	return err
}

// drawing is an SVG being written.
type drawing struct {
	b      strings.Builder
	span   time.Duration
	phases []Phase
}

// x is the horizontal position of time t.
func (d *drawing) x(t time.Duration) float64 {
	return svgLeft + float64(t)/float64(d.span)*svgPlotW
}

// text writes a text element at (x, y) with attrs, its content escaped.
func (d *drawing) text(x, y float64, attrs, s string) {
	fmt.Fprintf(&d.b, `<text x="%.1f" y="%.1f" %s>`, x, y, attrs)
	_ = xml.EscapeText(&d.b, []byte(s))
	d.b.WriteString("</text>\n")
}

func (d *drawing) rect(x, y, w, h float64, fill, extra string) {
	fmt.Fprintf(&d.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"%s/>`+"\n", x, y, w, h, fill, extra)
}

// phaseLabels names the phases wide enough to hold a label.
func (d *drawing) phaseLabels(phases []Phase, y float64) {
	var at time.Duration
	for _, ph := range phases {
		x0, x1 := d.x(min(at, d.span)), d.x(min(at+ph.Duration, d.span))
		at += ph.Duration
		if x1-x0 < 70 {
			continue
		}
		label := "healthy"
		if ph.Outage() {
			label = fmt.Sprintf("errors %.0f%%", ph.ErrorRate*100)
		}
		if ph.Latency > 0 {
			label += ", " + ph.Latency.String()
		}
		d.text((x0+x1)/2, y, `text-anchor="middle" fill="#555"`, label)
	}
}

// shades shades the outages between y and y+h, the more the higher
// their error rate.
func (d *drawing) shades(y, h float64) {
	var at time.Duration
	for _, ph := range d.phases {
		if at >= d.span {
			break
		}
		x0, x1 := d.x(at), d.x(min(at+ph.Duration, d.span))
		if ph.Outage() {
			d.rect(x0, y, x1-x0, h, "#d32f2f", fmt.Sprintf(` fill-opacity="%.3f"`, 0.05+0.2*ph.ErrorRate))
		}
		at += ph.Duration
	}
}

// boundaries marks where phases begin, between y and y+h, when there are
// few enough to tell apart.
func (d *drawing) boundaries(y, h float64) {
	if len(d.phases) > 40 {
		return
	}
	var at time.Duration
	for i, ph := range d.phases {
		if i > 0 && at < d.span {
			x := d.x(at)
			fmt.Fprintf(&d.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333" stroke-dasharray="4 3"/>`+"\n", x, y, x, y+h)
		}
		at += ph.Duration
	}
}

// panel draws one run with its top at y: its title, a strip of the
// phases, the members' states, and the calls a second.
func (d *drawing) panel(pn Panel, rates [3][]float64, top float64, y int) {
	d.text(svgLeft, float64(y+13), `font-size="13" font-weight="bold"`, pn.Title)
	band := float64(y + 24)
	d.shades(band-6, 5)
	d.states(pn, band)
	chart := band + svgBandH + 12
	d.chart(rates, top, chart)
	d.boundaries(band-6, chart+svgChartH-band+6)
	d.axis(chart + svgChartH)
}

// columns returns, for each member, its state in each pixel column: the
// most open state it was in during the column (open over half-open over
// closed), so that a short open period still shows.
func (d *drawing) columns(pn Panel) [][]infuse.State {
	cols := make([][]infuse.State, pn.Members)
	byMember := make([][]Change, pn.Members)
	for _, c := range pn.Changes {
		if c.Member >= 0 && c.Member < pn.Members {
			byMember[c.Member] = append(byMember[c.Member], c)
		}
	}
	rank := [...]int{infuse.Closed: 0, infuse.HalfOpen: 1, infuse.Open: 2}
	worse := func(a, b infuse.State) infuse.State {
		if !validState(b) || (validState(a) && rank[a] >= rank[b]) {
			return a
		}
		return b
	}
	for m := range cols {
		row := make([]infuse.State, svgPlotW)
		changes := byMember[m]
		cur := infuse.Closed
		if len(changes) > 0 && validState(changes[0].From) {
			cur = changes[0].From
		}
		k := 0
		for c := range row {
			end := time.Duration(float64(c+1) / svgPlotW * float64(d.span))
			s := cur
			for k < len(changes) && changes[k].At < end {
				if validState(changes[k].To) {
					cur = changes[k].To
				}
				s = worse(s, cur)
				k++
			}
			row[c] = s
		}
		cols[m] = row
	}
	return cols
}

func validState(s infuse.State) bool { return s >= infuse.Closed && s <= infuse.HalfOpen }

// states draws the members' states in the band at y.
func (d *drawing) states(pn Panel, y float64) {
	d.rect(svgLeft, y, svgPlotW, svgBandH, stateColors[infuse.Closed], "")
	if pn.Members < 1 {
		return
	}
	cols := d.columns(pn)
	const colW = 1.0 // a column a pixel
	if pn.Members <= svgRowsUpTo {
		rowH := float64(svgBandH) / float64(pn.Members)
		for m, row := range cols {
			ry := y + float64(m)*rowH
			for c := 0; c < len(row); {
				e := c + 1
				for e < len(row) && row[e] == row[c] {
					e++
				}
				if row[c] != infuse.Closed {
					d.rect(svgLeft+float64(c)*colW, ry, float64(e-c)*colW, rowH, stateColors[row[c]], "")
				}
				c = e
			}
			if rowH >= 10 {
				label := fmt.Sprintf("member %d", m)
				if m < len(pn.Labels) {
					label = pn.Labels[m]
				}
				if r := []rune(label); len(r) > 20 {
					label = string(r[:20]) + "…"
				}
				d.text(svgLeft-6, ry+rowH/2+4, `text-anchor="end" fill="#333"`, label)
			}
		}
		if rowH < 10 {
			d.text(svgLeft-6, y+svgBandH/2, `text-anchor="end" fill="#333"`, fmt.Sprintf("%d members", pn.Members))
			d.text(svgLeft-6, y+svgBandH/2+14, `text-anchor="end" fill="#777"`, "a band each")
		}
	} else {
		// Shares: open from the top, half-open under it.
		open := make([]int, svgPlotW)
		half := make([]int, svgPlotW)
		for _, row := range cols {
			for c, s := range row {
				switch s {
				case infuse.Open:
					open[c]++
				case infuse.HalfOpen:
					half[c]++
				}
			}
		}
		scale := float64(svgBandH) / float64(pn.Members)
		for c := 0; c < svgPlotW; {
			e := c + 1
			for e < svgPlotW && open[e] == open[c] && half[e] == half[c] {
				e++
			}
			x, w := svgLeft+float64(c)*colW, float64(e-c)*colW
			if open[c] > 0 {
				d.rect(x, y, w, float64(open[c])*scale, stateColors[infuse.Open], "")
			}
			if half[c] > 0 {
				d.rect(x, y+float64(open[c])*scale, w, float64(half[c])*scale, stateColors[infuse.HalfOpen], "")
			}
			c = e
		}
		d.text(svgLeft-6, y+svgBandH/2, `text-anchor="end" fill="#333"`, fmt.Sprintf("%d members", pn.Members))
		d.text(svgLeft-6, y+svgBandH/2+14, `text-anchor="end" fill="#777"`, "share by state")
	}
}

// callRates returns the calls a second, admitted, rejected and admitted
// while failing, in buckets of step over span.
func callRates(calls []Call, span, step time.Duration) [3][]float64 {
	n := int((span + step - 1) / step)
	var out [3][]float64
	for i := range out {
		out[i] = make([]float64, n)
	}
	for _, c := range calls {
		if c.At < 0 || c.At >= span {
			continue
		}
		i := int(c.At / step)
		switch {
		case !c.Admitted:
			out[1][i]++
		case c.Failed:
			out[0][i]++
			out[2][i]++
		default:
			out[0][i]++
		}
	}
	for _, s := range out {
		for i := range s {
			width := min(step, span-time.Duration(i)*step) // the last bucket may be shorter
			s[i] /= width.Seconds()
		}
	}
	return out
}

var seriesStyles = [3]struct{ color, name string }{
	{"#1e88e5", "admitted"},
	{"#9e9e9e", "rejected"},
	{"#b71c1c", "admitted, backend failing"},
}

// chart draws the calls-a-second series at y, on a logarithmic scale up
// to top (a power of ten), so that a handful of calls leaking to a failing
// backend shows beside thousands rejected.
func (d *drawing) chart(rates [3][]float64, top float64, y float64) {
	d.rect(svgLeft, y, svgPlotW, svgChartH, "#fafafa", ` stroke="#ccc"`)
	d.shades(y, svgChartH)
	scale := func(v float64) float64 { return y + svgChartH*(1-math.Log10(1+v)/math.Log10(1+top)) }
	for v := 1.0; v <= top; v *= 10 {
		ly := scale(v)
		fmt.Fprintf(&d.b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>`+"\n", svgLeft, ly, svgLeft+svgPlotW, ly)
		d.text(svgLeft-6, ly+4, `text-anchor="end" fill="#555"`, formatRate(v))
	}
	d.text(svgLeft-40, y+svgChartH/2, `text-anchor="end" fill="#777"`, "calls/s")
	for k, series := range rates {
		if len(series) == 0 {
			continue
		}
		colW := float64(svgPlotW) / float64(len(series))
		var pts strings.Builder
		for i, v := range series {
			fmt.Fprintf(&pts, "%.1f,%.1f ", svgLeft+(float64(i)+0.5)*colW, scale(v))
		}
		fmt.Fprintf(&d.b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n",
			seriesStyles[k].color, strings.TrimSpace(pts.String()))
	}
}

// axis draws time ticks under the chart whose bottom is y.
func (d *drawing) axis(y float64) {
	tick := niceStep(d.span)
	for t := time.Duration(0); t <= d.span; t += tick {
		x := d.x(t)
		fmt.Fprintf(&d.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888"/>`+"\n", x, y, x, y+4)
		d.text(x, y+15, `text-anchor="middle" fill="#555"`, t.String())
	}
}

// legend explains the colours at y.
func (d *drawing) legend(y int) {
	x := float64(svgLeft)
	for _, s := range []infuse.State{infuse.Closed, infuse.HalfOpen, infuse.Open} {
		d.rect(x, float64(y), 12, 12, stateColors[s], "")
		d.text(x+16, float64(y+10), `fill="#333"`, s.String())
		x += 90
	}
	for _, s := range seriesStyles {
		fmt.Fprintf(&d.b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", x, y+6, x+18, y+6, s.color)
		d.text(x+22, float64(y+10), `fill="#333"`, s.name)
		x += 40 + 7*float64(len(s.name))
	}
	d.rect(x, float64(y), 12, 12, "#d32f2f", ` fill-opacity="0.25"`)
	d.text(x+16, float64(y+10), `fill="#333"`, "backend failing")
}

// niceStep returns a round tick step giving at most about 12 ticks over
// span.
func niceStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{
		time.Microsecond, 10 * time.Microsecond, 100 * time.Microsecond,
		time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
		50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour,
	} {
		if span/s <= 12 {
			return s
		}
	}
	return max(span/12, time.Hour)
}

func formatRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.0fM", v/1e6)
	case v >= 1000:
		return fmt.Sprintf("%.0fk", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}

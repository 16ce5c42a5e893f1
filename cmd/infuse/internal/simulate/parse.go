package simulate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusesim"
)

// parsePhases parses duration:errorRate[:latency],... into phases;
// latency is that of the phases that give none.
func parsePhases(list string, latency time.Duration) ([]infusesim.Phase, error) {
	if strings.TrimSpace(list) == "" {
		return nil, errors.New("no phases: want a list of duration:errorRate[:latency], comma-separated")
	}
	var phases []infusesim.Phase
	for i, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		f := strings.Split(entry, ":")
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("phase %d %q: want duration:errorRate or duration:errorRate:latency", i+1, entry)
		}
		p := infusesim.Phase{Latency: latency}
		d, err := time.ParseDuration(f[0])
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("phase %d %q: the duration %q is not a positive duration such as 2s", i+1, entry, f[0])
		}
		p.Duration = d
		r, err := strconv.ParseFloat(f[1], 64)
		if err != nil || !(r >= 0 && r <= 1) {
			return nil, fmt.Errorf("phase %d %q: the error rate %q is not a number from 0 to 1", i+1, entry, f[1])
		}
		p.ErrorRate = r
		if len(f) == 3 {
			l, err := time.ParseDuration(f[2])
			if err != nil || l < 0 {
				return nil, fmt.Errorf("phase %d %q: the latency %q is not a duration of 0 or more, such as 5ms", i+1, entry, f[2])
			}
			p.Latency = l
		}
		phases = append(phases, p)
	}
	return phases, nil
}

// candidate is a configuration to measure, with its column's heading.
type candidate struct {
	name string
	cfg  infuse.Config
}

var candidateKeys = "failmax, open, trials, successes, backoff, backoff-max, window, failure-rate, min-calls, name"

// parseCandidate parses key=value,... over the default candidate.
func parseCandidate(spec string) (candidate, error) {
	c := candidate{name: strings.TrimSpace(spec), cfg: infuse.Config{
		FailMax: 5, ResetTimeout: time.Second, HalfOpenMaxCalls: 1, SuccessThreshold: 1,
	}}
	if c.name == "" {
		return c, errors.New("empty: want key=value,... with keys " + candidateKeys)
	}
	seen := map[string]bool{}
	var window string
	for _, kv := range strings.Split(spec, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch {
		case !ok:
			return c, fmt.Errorf("%q is not key=value", kv)
		case seen[key]:
			return c, fmt.Errorf("%s is given twice", key)
		}
		seen[key] = true
		var err error
		switch key {
		case "failmax":
			c.cfg.FailMax, err = count(val)
		case "trials":
			c.cfg.HalfOpenMaxCalls, err = count(val)
		case "successes":
			c.cfg.SuccessThreshold, err = count(val)
		case "min-calls":
			c.cfg.MinCalls, err = count(val)
		case "open":
			c.cfg.ResetTimeout, err = positive(val)
		case "backoff":
			c.cfg.Backoff.Multiplier, err = strconv.ParseFloat(val, 64)
			if err != nil || !(c.cfg.Backoff.Multiplier >= 1) {
				err = fmt.Errorf("%q is not a multiplier of 1 or more", val)
			}
		case "backoff-max":
			c.cfg.Backoff.Max, err = positive(val)
		case "failure-rate":
			c.cfg.FailureRate, err = strconv.ParseFloat(val, 64)
			if err != nil || !(c.cfg.FailureRate > 0 && c.cfg.FailureRate <= 1) {
				err = fmt.Errorf("%q is not a rate above 0 and at most 1", val)
			}
		case "window":
			window = val
			if n, cerr := strconv.Atoi(val); cerr == nil && n > 0 {
				c.cfg.Window = infuse.CountWindow(n)
			} else if d, derr := time.ParseDuration(val); derr == nil && d > 0 {
				c.cfg.Window = infuse.TimeWindow(d, d/10)
			} else {
				err = fmt.Errorf("%q is neither a call count nor a duration", val)
			}
		case "name":
			if val == "" {
				err = errors.New("empty")
			}
			c.name = val
		default:
			return c, fmt.Errorf("unknown key %q; the keys are %s", key, candidateKeys)
		}
		if err != nil {
			return c, fmt.Errorf("%s: %v", key, err)
		}
	}
	switch {
	case c.cfg.FailureRate > 0 && window == "":
		return c, errors.New("failure-rate needs a window")
	case window != "" && c.cfg.FailureRate == 0:
		return c, errors.New("window needs a failure-rate")
	case seen["backoff-max"] && !seen["backoff"]:
		return c, errors.New("backoff-max needs a backoff multiplier")
	}
	// What else infuse would refuse, say now.
	probe := c.cfg
	probe.Name = "candidate"
	if _, err := infuse.New(probe); err != nil {
		return c, err
	}
	return c, nil
}

// count parses a whole number of 1 or more.
func count(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a whole number of 1 or more", s)
	}
	return n, nil
}

// positive parses a duration above 0.
func positive(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration such as 1s", s)
	}
	return d, nil
}

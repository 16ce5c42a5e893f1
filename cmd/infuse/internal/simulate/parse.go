package simulate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusesim"
	"github.com/infuse-go/infuse/storage"
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

// oldKeys are the names -candidate took before it spoke storage.Fields'
// vocabulary, and what to write now.
var oldKeys = map[string]string{
	"failmax":     "fail-max",
	"open":        "reset-timeout",
	"trials":      "half-open-max-calls",
	"successes":   "success-threshold",
	"backoff-max": "part of backoff (backoff=MULTIPLIER/MAX)",
}

// candidateNames lists the names a candidate takes: the settings' (those
// of infuse shadow's flags), then name.
func candidateNames() string {
	var names []string
	for _, f := range storage.Fields() {
		names = append(names, f.Flag)
	}
	return strings.Join(append(names, "name"), ", ")
}

// candidateHelp describes each name a candidate takes, a line each, for
// -help.
func candidateHelp() string {
	var b strings.Builder
	for _, f := range storage.Fields() {
		fmt.Fprintf(&b, "  %-20s %s\n", f.Flag, f.Doc)
	}
	fmt.Fprintf(&b, "  %-20s %s", "name", "the column's heading (default: the candidate as written)")
	return b.String()
}

// parseCandidate parses name=value,... over defaultCandidate: the names
// are those of the settings (storage.Fields, the flags of infuse shadow),
// each parsed by storage.Settings.Set, and name, the column's heading.
func parseCandidate(spec string) (candidate, error) {
	var s storage.Settings
	for _, kv := range strings.Split(defaultCandidate, ",") {
		k, v, _ := strings.Cut(kv, "=")
		if err := s.Set(k, v); err != nil {
			panic("defaultCandidate: " + err.Error())
		}
	}
	c := candidate{name: strings.TrimSpace(spec)}
	if c.name == "" {
		return c, errors.New("empty: want name=value,... with the names " + candidateNames())
	}
	settings := map[string]bool{}
	for _, f := range storage.Fields() {
		settings[f.Flag] = true
	}
	seen := map[string]bool{}
	for _, kv := range strings.Split(spec, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch {
		case !ok:
			return c, fmt.Errorf("%q is not name=value", kv)
		case seen[key]:
			return c, fmt.Errorf("%s is given twice", key)
		}
		seen[key] = true
		if key == "name" {
			if val == "" {
				return c, errors.New("name: empty")
			}
			c.name = val
			continue
		}
		if !settings[key] {
			return c, unknownName(key)
		}
		if key == "window" {
			if d, err := time.ParseDuration(val); err == nil && d > 0 {
				return c, fmt.Errorf("window=%s: a time window is DURATION/BUCKET, such as %v/%v", val, d, d/10)
			}
		}
		if err := s.Set(key, val); err != nil {
			return c, err
		}
	}
	if err := s.Validate(); err != nil {
		return c, inFlagWords(err)
	}
	c.cfg = infuse.Config{}.WithSettings(s)
	return c, nil
}

// unknownName is the error for a name a candidate does not take: it
// names the setting meant where it can.
func unknownName(key string) error {
	if now, ok := oldKeys[key]; ok {
		return fmt.Errorf("unknown name %q: it is now %s, as infuse shadow's flags name it", key, now)
	}
	for _, f := range storage.Fields() {
		if strings.EqualFold(key, f.JSON) || strings.EqualFold(key, f.Name) {
			return fmt.Errorf("unknown name %q: write %s, as infuse shadow's flags name it", key, f.Flag)
		}
	}
	return fmt.Errorf("unknown name %q; the names are %s", key, candidateNames())
}

// inFlagWords says a *storage.ConfigError with the setting's name as a
// candidate writes it (fail-max, not Config.FailMax).
func inFlagWords(err error) error {
	var ce *storage.ConfigError
	if errors.As(err, &ce) {
		for _, f := range storage.Fields() {
			if f.Name == ce.Field {
				return fmt.Errorf("%s: %s", f.Flag, ce.Reason)
			}
		}
	}
	return err
}

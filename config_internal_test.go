package infuse

import (
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// Each limit of Config is inclusive: the limit itself is valid, one past
// it is a *ConfigError.
func TestConfigLimitsAreInclusive(t *testing.T) {
	rate := func(c Config) Config { c.FailureRate = 0.5; return c }
	for _, c := range []struct {
		ok, bad Config
	}{
		{Config{FailMax: storage.MaxCount}, Config{FailMax: storage.MaxCount + 1}},
		{Config{FailMax: 0}, Config{FailMax: -1}},
		{Config{FleetMinMembers: 1000}, Config{FleetMinMembers: 1001}},
		{rate(Config{Window: CountWindow(10), MinCalls: storage.MaxCount}), rate(Config{Window: CountWindow(10), MinCalls: storage.MaxCount + 1})},
		{Config{Backoff: Backoff{Multiplier: 1}}, Config{Backoff: Backoff{Multiplier: 0.999}}},
		{Config{Backoff: Backoff{Multiplier: 1000}}, Config{Backoff: Backoff{Multiplier: 1000.001}}},
		{Config{Backoff: Backoff{Multiplier: 2, Jitter: 1}}, Config{Backoff: Backoff{Multiplier: 2, Jitter: 1.001}}},
		{Config{Backoff: Backoff{Multiplier: 2, Max: 0}}, Config{Backoff: Backoff{Multiplier: 2, Max: -1}}},
		{rate(Config{Window: CountWindow(storage.MaxWindowCalls)}), rate(Config{Window: CountWindow(storage.MaxWindowCalls + 1)})},
		{rate(Config{Window: TimeWindow(time.Second, time.Second)}), rate(Config{Window: TimeWindow(0, time.Second)})},
		{rate(Config{Window: TimeWindow(time.Second, time.Second)}), rate(Config{Window: TimeWindow(time.Second, 0)})},
		{rate(Config{Window: TimeWindow(time.Second, time.Millisecond)}), rate(Config{Window: TimeWindow(time.Second, time.Millisecond-1)})},
		{rate(Config{Window: TimeWindow(storage.MaxWindowBuckets*time.Second, time.Second)}), rate(Config{Window: TimeWindow(storage.MaxWindowBuckets*time.Second+1, time.Second)})},
	} {
		c.ok.Name, c.bad.Name = "x", "x"
		if _, err := c.ok.validate(); err != nil {
			t.Errorf("%+v: %v", c.ok, err)
		}
		var ce *ConfigError
		if _, err := c.bad.validate(); !errors.As(err, &ce) {
			t.Errorf("%+v: %v, want a *ConfigError", c.bad, err)
		}
	}
}

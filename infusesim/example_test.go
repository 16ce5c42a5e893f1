package infusesim_test

import (
	"fmt"
	"os"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusesim"
)

// The built-in outage through one configuration, with breakers that share
// nothing and with one shared state: how many calls reached the failing
// backend.
func ExampleSimulate() {
	s := infusesim.OutageScenario() // 32 members × 500 calls/s; failing from 2 s to 8 s
	cfg := infuse.Config{FailMax: 5, ResetTimeout: time.Second}
	for _, fleet := range []infusesim.Fleet{infusesim.Local, infusesim.Shared} {
		calls, err := infusesim.Simulate(s, cfg, infusesim.Options{Fleet: fleet, Seed: 1})
		if err != nil {
			panic(err)
		}
		r := infusesim.Summarize(s, calls)
		fmt.Printf("%s: %d calls reached the failing backend, %d of them probes; all members rejecting after %v\n",
			fleet, r.Leaked, r.Probes, r.AllRejecting.Round(100*time.Microsecond))
	}
	// Output:
	// local: 320 calls reached the failing backend, 160 of them probes; all members rejecting after 11.9ms
	// shared: 10 calls reached the failing backend, 5 of them probes; all members rejecting after 2.3ms
}

// Recording a breaker's calls, to replay them through other
// configurations later.
func ExampleRecorder() {
	rec, err := infusesim.NewRecorder(os.Stdout, infusesim.RecorderOptions{})
	if err != nil {
		panic(err)
	}
	// In place of b.Call(ctx, fn): rec.Call(ctx, b, fn). Here, a record
	// made by hand, to show the format.
	_ = rec.Add(infusesim.Record{
		Time: time.Unix(1767225600, 0), Name: "payments", Outcome: infusesim.Failed, Latency: 30 * time.Millisecond,
	})
	_ = rec.Close()
	// Output:
	// infuse-recording v1
	// 1767225600000000000 "payments" fail 30000000
	// end 1 0
}

package redisstore_test

import (
	"flag"
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) != "" {
		os.Exit(fleetWorker())
	}
	// INFUSE_TEST_RUN narrows the run to the tests it matches, for a tool
	// that runs a package's tests without a -run flag: make mutate, whose
	// mutants of the decoders need only their own fast tests.
	if run := os.Getenv("INFUSE_TEST_RUN"); run != "" {
		flag.Parse()
		if err := flag.Set("test.run", run); err != nil {
			panic(err)
		}
	}
	goleak.VerifyTestMain(m)
}

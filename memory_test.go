package infuse_test

import (
	"testing"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
	"github.com/infuse-go/infuse/storagetest"
)

func TestMemoryStorageContract(t *testing.T) {
	clock := infusetest.NewClock()
	storagetest.Run(t, storagetest.Harness{
		New:     func(*testing.T) infuse.Storage { return infuse.NewMemoryStorage() },
		Clock:   clock,
		Advance: clock.Advance,
	})
}

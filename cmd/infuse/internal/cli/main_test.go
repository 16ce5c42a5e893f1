package cli

import (
	"os"
	"testing"

	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
)

func TestMain(m *testing.M) { os.Exit(cmdtest.Main(m)) }

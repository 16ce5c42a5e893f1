package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// What a build records is printed: versions, the revision, whether the
// checkout had changes, when the revision was committed, the Go version.
func TestWrite(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.99.1",
		Main:      debug.Module{Path: "github.com/infuse-go/infuse/cmd/infuse", Version: "v1.2.3"},
		Deps: []*debug.Module{
			{Path: "github.com/infuse-go/infuse", Version: "v1.2.3"},
			{Path: "github.com/infuse-go/infuse/redisstore", Version: "v0.0.0-00010101000000-000000000000", Replace: &debug.Module{Path: "../../redisstore"}},
			{Path: "github.com/redis/go-redis/v9", Version: "v9.23.0"},
		},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.time", Value: "2026-05-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
		},
	}
	var b strings.Builder
	if err := Write(&b, bi); err != nil {
		t.Fatal(err)
	}
	want := `infuse v1.2.3
  module     github.com/infuse-go/infuse/cmd/infuse v1.2.3
  uses       github.com/infuse-go/infuse v1.2.3
  uses       github.com/infuse-go/infuse/redisstore (devel: ../../redisstore)
  revision   0123456789abcdef (with uncommitted changes)
  committed  2026-05-01T10:00:00Z
  go         go1.99.1 ` + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}

	b.Reset()
	_ = Write(&b, &debug.BuildInfo{Main: debug.Module{Path: "github.com/infuse-go/infuse/cmd/infuse"}})
	if !strings.HasPrefix(b.String(), "infuse (devel)\n") || !strings.Contains(b.String(), "revision  unknown") || !strings.Contains(b.String(), runtime.Version()) {
		t.Errorf("a build without versions:\n%s", b.String())
	}
	b.Reset()
	_ = Write(&b, nil)
	if !strings.Contains(b.String(), "unknown version") {
		t.Errorf("a build without module information:\n%s", b.String())
	}
}

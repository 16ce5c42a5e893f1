package infuse

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// The hot path's false-sharing guards hold only if the sizes are right:
// an epoch is two whole cache lines (an object of 128 bytes is placed on a
// multiple of 128), and no more, for the memory of 10⁵ breakers.
func TestEpochFillsWholeCacheLines(t *testing.T) {
	if size := unsafe.Sizeof(epoch{}); size != 128 {
		t.Fatalf("epoch is %d bytes; fix epochPad so it is 128", size)
	}
}

// What a breaker weighs, object by object: a bare breaker is a Breaker,
// its epoch, its private record and its name (its Policy is shared).
func TestABreakerIsSmall(t *testing.T) {
	for _, c := range []struct {
		name      string
		size, max uintptr
	}{
		{"Breaker", unsafe.Sizeof(Breaker{}), 128},
		{"privateBinding", unsafe.Sizeof(privateBinding{}), 176}, // a Snapshot (120 bytes) and the breaker
	} {
		if c.size > c.max {
			t.Errorf("%s is %d bytes, more than %d", c.name, c.size, c.max)
		}
	}
}

// A program that imports only the core package gets no heavy module in its
// build graph: Redis, gRPC, Prometheus, OpenTelemetry and the browser test's
// chromedp live in modules of their own (ARCHITECTURE.md, "Modules").
func TestCoreModuleBringsNoHeavyModule(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/consumer\n\ngo 1.26.0\n\n" +
			"require github.com/infuse-go/infuse v0.0.0-00010101000000-000000000000\n\n" +
			"replace github.com/infuse-go/infuse => " + root + "\n",
		"main.go": "package main\n\nimport (\n\t\"github.com/infuse-go/infuse\"\n" +
			"\t_ \"github.com/infuse-go/infuse/infusehttp\"\n\t_ \"github.com/infuse-go/infuse/infuseslog\"\n" +
			"\t_ \"github.com/infuse-go/infuse/registry\"\n)\n\n" +
			"func main() { _, _ = infuse.New(infuse.Config{Name: \"x\"}) }\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) string {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("mod", "tidy")
	all := run("list", "-m", "all")
	allowed := map[string]bool{ // the core's own tests' requirements
		"example.com/consumer": true, "github.com/infuse-go/infuse": true,
		"go.uber.org/goleak": true, "pgregory.net/rapid": true,
	}
	for line := range strings.Lines(all) {
		if f := strings.Fields(line); len(f) > 0 && !allowed[f[0]] {
			t.Errorf("a program importing only the core builds with %s", strings.TrimSpace(line))
		}
	}
}

// An open breaker's rejection costs about what a field compare does only
// while Call is inlined at its caller (see Breaker.rejecting): a change
// that takes Call over the inliner's budget fails here.
func TestCallIsInlined(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	out, err := exec.Command("go", "build", "-gcflags=-m", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "can inline (*Breaker).Call\n") {
		t.Fatalf("Call is not inlined:\n%s", out)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// snippetPreamble declares what the snippets of the README and docs/ use
// without declaring it: a context, a client of some service, an item, a
// breaker, work to do.
const snippetPreamble = `
var (
	ctx    = context.Background()
	item   = "sku-1"
	client interface {
		Reserve(context.Context, string) error
		Price(context.Context, string) (float64, error)
	}
	doWork = func() error { return nil }
	fn     = func(context.Context) error { return nil }
	b      *infuse.Breaker
)

var _, _, _, _ = errors.Is, time.Second, log.Printf, b
`

var (
	goBlock     = regexp.MustCompile("(?s)```go\n(.*?)```")
	importLine  = regexp.MustCompile(`^import "([^"]+)"\n`)
	importBlock = regexp.MustCompile(`(?s)^import \((.*?)\)\n`)
	quotedPath  = regexp.MustCompile(`"([^"]+)"`)
)

// Every Go snippet of the README and of docs/*.md compiles as written:
// each becomes the body of a function returning an error, its imports
// added to the file's, and is built in this module (which sees every
// module of infuse through the workspace). Run both with
// go test -run SnippetsCompile .
func TestREADMESnippetsCompile(t *testing.T) {
	compileSnippets(t, []string{"../../README.md"}, 2)
}

func TestDocsSnippetsCompile(t *testing.T) {
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs/*.md (%v)", err)
	}
	compileSnippets(t, docs, 6)
}

// compileSnippets builds every Go snippet of the files (atLeast of
// them, so that a change to the fences cannot hide them all), as one
// package each, in one go build: a failure names the file and the
// snippet's number in it (snippet-fleets-2 is docs/fleets.md's second).
func compileSnippets(t *testing.T, files []string, atLeast int) {
	t.Helper()
	dir := t.TempDir()
	overlay := map[string]string{}
	var pkgs []string
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		doc := strings.TrimSuffix(filepath.Base(file), ".md")
		for i, m := range goBlock.FindAllStringSubmatch(string(text), -1) {
			pkg := fmt.Sprintf("snippet-%s-%d", doc, i+1)
			src := snippetFile(m[1])
			name := filepath.Join(dir, pkg+".go")
			if err := os.WriteFile(name, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			abs, _ := filepath.Abs(filepath.Join(pkg, "snippet.go"))
			overlay[abs] = name
			pkgs = append(pkgs, "./"+pkg)
		}
	}
	if len(pkgs) < atLeast {
		t.Fatalf("found %d Go snippets in %v, want at least %d", len(pkgs), files, atLeast)
	}
	data, _ := json.Marshal(map[string]any{"Replace": overlay})
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", append([]string{"build", "-o", os.DevNull, "-overlay", ov}, pkgs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("snippets of %v do not compile:\n%s", files, out)
	}
}

// snippetFile is the Go file of one snippet: its imports with the
// preamble's, the preamble, and the snippet as a function's body.
func snippetFile(body string) string {
	imports := map[string]bool{"context": true, "errors": true, "log": true, "time": true, "github.com/infuse-go/infuse": true}
	if im := importLine.FindStringSubmatch(body); im != nil {
		imports[im[1]] = true
		body = body[len(im[0]):]
	} else if im := importBlock.FindStringSubmatch(body); im != nil {
		for _, p := range quotedPath.FindAllStringSubmatch(im[1], -1) {
			imports[p[1]] = true
		}
		body = body[len(im[0]):]
	}
	var src strings.Builder
	src.WriteString("package snippet\n\nimport (\n")
	for p := range imports {
		src.WriteString("\t\"" + p + "\"\n")
	}
	src.WriteString(")\n" + snippetPreamble + "\nfunc snippet() error {\n" + body)
	if !strings.Contains(body, "\nreturn ") && !strings.HasPrefix(body, "return ") {
		src.WriteString("return nil\n")
	}
	src.WriteString("}\n")
	return src.String()
}

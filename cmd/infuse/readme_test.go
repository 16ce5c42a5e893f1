package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// snippetPreamble declares what the README's snippets use without
// declaring it: a context, a client of some service, an item, a breaker,
// work to do.
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

// Every Go snippet of the README compiles as written: each becomes the
// body of a function returning an error, its imports added to the file's,
// and is built in this module (which requires every module of infuse).
func TestREADMESnippetsCompile(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlock.FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 4 {
		t.Fatalf("found %d Go snippets in the README", len(blocks))
	}
	dir := t.TempDir()
	overlay := map[string]string{}
	var pkgs []string
	for i, m := range blocks {
		body := m[1]
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
		name := filepath.Join(dir, "snippet.go")
		name = strings.TrimSuffix(name, ".go") + string(rune('a'+i)) + ".go"
		if err := os.WriteFile(name, []byte(src.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		pkg := "readmesnippet" + string(rune('a'+i))
		abs, _ := filepath.Abs(filepath.Join(pkg, "snippet.go"))
		overlay[abs] = name
		pkgs = append(pkgs, "./"+pkg)
	}
	data, _ := json.Marshal(map[string]any{"Replace": overlay})
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", append([]string{"build", "-o", os.DevNull, "-overlay", ov}, pkgs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("the README's snippets do not compile:\n%s", out)
	}
}

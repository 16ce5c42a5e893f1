// Command filegraph prints the graph of references between the files of
// the core package and the packages around it, and the references that
// point from a lower layer of the design back up to a higher one: the
// measure of issue 24 ("The house, redesigned").
//
//	go run ./internal/cmd/filegraph            # a summary
//	go run ./internal/cmd/filegraph -v         # every arrow back up
//
// A node is a file of the root package (or of the packages given with
// -files), or a whole folder for every other package of the module. An
// arrow A → B means that A uses something declared in B: a type, a
// function, a variable, a constant, a field or a method, as the type
// checker resolves it (a method called through an interface points at
// the interface).
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// layers: a node's layer is the first rule that matches its path (a file
// of the root package is "./NAME.go"); lower numbers are lower layers.
// The features (throttling, the ramp, holds, shadows) are part of the
// users' API, one layer with it; an arrow from the store contract or a
// store into a feature's file is a rule broken all the same.
var layers = []struct {
	match string
	layer int
	what  string
}{
	{"./internal/", 0, "internals"},
	{"./window.go", 0, "internals"}, {"./coarse.go", 0, "internals"}, {"./shard.go", 0, "internals"},
	{"./storage/", 1, "the store contract"},
	{"./storage.go", 1, "the store contract"}, {"./policy.go", 1, "the store contract"},
	{"./redisstore", 2, "stores"}, {"./storagetest", 2, "stores"}, {"./memory.go", 2, "stores"},
	{"./throttle.go", 3, "a feature"}, {"./ramp.go", 3, "a feature"}, {"./shadow.go", 3, "a feature"}, {"./hold.go", 3, "a feature"},
	{"./shed.go", 3, "a feature"},
	{"./", 3, "the users' API"},
}

func layerOf(node string) (int, string) {
	for _, l := range layers {
		if strings.HasPrefix(node, l.match) && (strings.HasSuffix(l.match, "/") || node == l.match) {
			return l.layer, l.what
		}
		if l.match == "./" && strings.Count(node, "/") == 1 {
			return l.layer, l.what
		}
	}
	if strings.HasPrefix(node, "./cmd/") || strings.HasPrefix(node, "./bench") {
		return 5, "commands"
	}
	return 4, "integrations"
}

func main() {
	verbose := flag.Bool("v", false, "list every arrow back up")
	files := flag.String("files", ".,./storage", "packages whose files are nodes of their own")
	flag.Parse()
	fileLevel := map[string]bool{}
	for _, d := range strings.Split(*files, ",") {
		fileLevel[filepath.Clean(d)] = true
	}
	mod := modulePath()
	fset := token.NewFileSet()
	type parsed struct {
		node, dir, importPath string
		f                     *ast.File
	}
	var all []parsed
	_ = filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			if path != "." {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != "." {
					// a module of its own: still a node, read below
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return nil
		}
		dir := filepath.Dir(path)
		ip := mod
		if dir != "." {
			ip = mod + "/" + filepath.ToSlash(dir)
		}
		node := "./" + filepath.ToSlash(dir)
		if fileLevel[dir] {
			node = "./" + filepath.ToSlash(path)
		}
		if strings.HasPrefix(node, ".//") {
			node = "./" + node[3:]
		}
		all = append(all, parsed{node, dir, ip, f})
		return nil
	})
	arrows := map[[2]string]bool{}
	root, _ := filepath.Abs(".")
	nodeOf := func(filename string) string {
		if !filepath.IsAbs(filename) {
			filename = filepath.Join(root, filename)
		}
		rel, err := filepath.Rel(root, filename)
		if err != nil || strings.HasPrefix(rel, "..") {
			return ""
		}
		dir := filepath.Dir(rel)
		if fileLevel[dir] {
			return "./" + filepath.ToSlash(rel)
		}
		if dir == "." {
			return "./"
		}
		return "./" + filepath.ToSlash(dir)
	}
	byDir := map[string][]*ast.File{}
	var dirs []string
	for _, p := range all {
		if byDir[p.dir] == nil {
			dirs = append(dirs, p.dir)
		}
		byDir[p.dir] = append(byDir[p.dir], p.f)
	}
	imp := importer.ForCompiler(fset, "source", nil)
	for _, dir := range dirs {
		info := &types.Info{Uses: map[*ast.Ident]types.Object{}}
		conf := types.Config{Importer: imp, Error: func(err error) { fmt.Fprintln(os.Stderr, err) }}
		ip := mod
		if dir != "." {
			ip = mod + "/" + filepath.ToSlash(dir)
		}
		_, _ = conf.Check(ip, fset, byDir[dir], info)
		for id, obj := range info.Uses {
			if obj.Pkg() == nil || !strings.HasPrefix(obj.Pkg().Path(), mod) || !obj.Pos().IsValid() {
				continue
			}
			from := nodeOf(fset.Position(id.Pos()).Filename)
			to := nodeOf(fset.Position(obj.Pos()).Filename)
			if from != "" && to != "" && from != to {
				arrows[[2]string{from, to}] = true
			}
		}
	}
	var list [][2]string
	for a := range arrows {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool { return list[i][0]+list[i][1] < list[j][0]+list[j][1] })
	nodes := map[string]bool{}
	up := 0
	broken := map[string]bool{}
	for _, a := range list {
		nodes[a[0]], nodes[a[1]] = true, true
		la, wa := layerOf(a[0])
		lb, wb := layerOf(a[1])
		if la < lb {
			up++
			if *verbose {
				fmt.Printf("up: %s (%s) -> %s (%s)\n", a[0], wa, a[1], wb)
			}
			if (la == 1 || la == 2) && wb == "a feature" {
				broken[a[0]+" -> "+a[1]] = true
			}
		}
	}
	fmt.Printf("%d nodes, %d arrows, %d pointing from a lower layer back up\n", len(nodes), len(list), up)
	var b []string
	for k := range broken {
		b = append(b, k)
	}
	sort.Strings(b)
	fmt.Printf("%d arrows from the store contract or a store into a feature's file", len(b))
	if len(b) > 0 {
		fmt.Printf(": %s", strings.Join(b, "; "))
	}
	fmt.Println()
}

func modulePath() string {
	data, err := os.ReadFile("go.mod")
	if err != nil {
		fmt.Fprintln(os.Stderr, "filegraph: run it at the repository's root")
		os.Exit(2)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "module ") {
			return strings.TrimSpace(strings.TrimPrefix(line, "module "))
		}
	}
	return ""
}

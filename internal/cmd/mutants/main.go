// Command mutants prints the table of a mutation run (make mutate): for
// each package, and in all, the mutants gremlins found, the share of them
// a test covers, and the share of the covered ones the tests kill. It
// reads the reports that gremlins unleash -o writes (JSON), and lists the
// mutants that lived.
//
//	go run ./internal/cmd/mutants [-lived] [-run DIR] [-root NAME] REPORT.json...
//
// A mutant that timed out is counted as killed (the tests did not pass);
// one that did not compile (NOT VIABLE) is no mutant and is counted apart.
// Gremlins' own figures leave the timed-out ones out of both shares.
//
// Gremlins tests only the mutants that Go's coverage profile covers, and
// the profile has no block for two places a mutant can be: the case
// expressions of a switch (its blocks are the cases' bodies) and the
// package-level declarations (constants, variables, the sizes in types).
// Gremlins counts the mutants there as not covered, whatever the tests
// do. With -run, the copy of the module that gremlins ran in (DIR), this
// command tests them itself, as gremlins would (the operator swapped in
// the file, then go test -failfast of the file's package, with the
// environment it was given: GOFLAGS, GOWORK=off), and counts what comes
// out; the table says how many it ran. Any other mutant that gremlins
// found uncovered stays so.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// report is what gremlins unleash -o writes (the part read here).
type report struct {
	Files []struct {
		Name      string     `json:"file_name"`
		Mutations []mutation `json:"mutations"`
	} `json:"files"`
}

// mutation is one mutant of a report.
type mutation struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	ranHere bool
}

// tally is one row of the table.
type tally struct {
	killed, timedOut, lived, notCovered, notViable int
	// ranHere are the mutants that gremlins counted as not covered and
	// this command tested (see -run), whatever came of them.
	ranHere   int
	survivors []survivor
}

// survivor is a mutant that lived: where, and what it changed.
type survivor struct {
	file         string
	line, column int
	kind         string
	ranHere      bool
}

func (s survivor) String() string {
	if s.ranHere {
		return fmt.Sprintf("%s:%d:%d %s (run here)", s.file, s.line, s.column, s.kind)
	}
	return fmt.Sprintf("%s:%d:%d %s", s.file, s.line, s.column, s.kind)
}

func less(a, b survivor) bool {
	if a.file != b.file {
		return a.file < b.file
	}
	if a.line != b.line {
		return a.line < b.line
	}
	if a.column != b.column {
		return a.column < b.column
	}
	return a.kind < b.kind
}

func (t *tally) add(o *tally) {
	t.killed += o.killed
	t.timedOut += o.timedOut
	t.lived += o.lived
	t.notCovered += o.notCovered
	t.notViable += o.notViable
	t.ranHere += o.ranHere
}

func (t *tally) mutants() int { return t.covered() + t.notCovered }
func (t *tally) covered() int { return t.killed + t.timedOut + t.lived }

func percent(n, of int) string {
	if of == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(n)/float64(of))
}

func main() {
	lived := flag.Bool("lived", false, "list the mutants that lived")
	dir := flag.String("run", "", "the module copy gremlins ran in: test the mutants Go's coverage cannot see there")
	timeout := flag.Duration("timeout", 3*time.Minute, "with -run, the longest a mutant's test may take")
	root := flag.String("root", "infuse (root)", "what the table calls the package at the report's module root")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: mutants [-lived] [-run DIR] [-root NAME] REPORT.json...")
		os.Exit(2)
	}
	var run func(file string, m *mutation) error
	if *dir != "" {
		r := &runner{dir: *dir, timeout: *timeout, files: map[string]*parsed{}}
		run = r.run
	}
	pkgs := map[string]*tally{}
	for _, name := range flag.Args() {
		if err := read(name, pkgs, run); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	write(os.Stdout, pkgs, *lived, *root)
}

// read adds the report in file name to pkgs, by package directory; run,
// when not nil, may test a mutant gremlins counted as not covered.
func read(name string, pkgs map[string]*tally, run func(file string, m *mutation) error) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for _, f := range r.Files {
		dir := path.Dir(f.Name)
		t := pkgs[dir]
		if t == nil {
			t = &tally{}
			pkgs[dir] = t
		}
		for _, m := range f.Mutations {
			if m.Status == "NOT COVERED" && run != nil {
				if err := run(f.Name, &m); err != nil {
					return err
				}
			}
			if m.ranHere {
				t.ranHere++
			}
			switch m.Status {
			case "KILLED":
				t.killed++
			case "TIMED OUT":
				t.timedOut++
			case "LIVED":
				t.lived++
				t.survivors = append(t.survivors, survivor{f.Name, m.Line, m.Column, m.Type, m.ranHere})
			case "NOT COVERED":
				t.notCovered++
			case "NOT VIABLE":
				t.notViable++
			default:
				return fmt.Errorf("%s: %s:%d: status %q", name, f.Name, m.Line, m.Status)
			}
		}
	}
	return nil
}

func write(w io.Writer, pkgs map[string]*tally, lived bool, root string) {
	names := make([]string, 0, len(pkgs))
	for n := range pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "| package | mutants | covered | killed of covered | killed | timed out | lived | not covered | not viable | run here |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	var all tally
	row := func(name string, t *tally) {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %d | %d | %d | %d | %d | %d |\n", name, t.mutants(), percent(t.covered(), t.mutants()),
			percent(t.killed+t.timedOut, t.covered()), t.killed, t.timedOut, t.lived, t.notCovered, t.notViable, t.ranHere)
	}
	for _, n := range names {
		label := n
		if n == "." {
			label = root
		}
		row(label, pkgs[n])
		all.add(pkgs[n])
	}
	row("**total**", &all)
	if all.ranHere > 0 {
		fmt.Fprintf(w, "\nrun here: mutants gremlins counted as not covered because Go's coverage has no block for them\n"+
			"(a switch's case expressions, package-level declarations), tested by internal/cmd/mutants -run (%d).\n", all.ranHere)
	}
	if !lived {
		return
	}
	fmt.Fprintln(w)
	for _, n := range names {
		sort.Slice(pkgs[n].survivors, func(i, j int) bool { return less(pkgs[n].survivors[i], pkgs[n].survivors[j]) })
		for _, s := range pkgs[n].survivors {
			fmt.Fprintln(w, "lived:", s)
		}
	}
}

// runner tests, in the module copy dir, the mutants that gremlins counted
// as not covered and that Go's coverage cannot see (see the package
// comment).
type runner struct {
	dir     string
	timeout time.Duration
	files   map[string]*parsed
}

// parsed is a source file: its bytes, and where in it the coverage
// profile has no block.
type parsed struct {
	src    []byte
	fset   *token.FileSet
	unseen [][2]token.Pos // [from, to) ranges
	base   int
}

func (r *runner) parse(name string) (*parsed, error) {
	if p := r.files[name]; p != nil {
		return p, nil
	}
	src, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil {
		return nil, err
	}
	p := &parsed{src: src, fset: token.NewFileSet()}
	f, err := parser.ParseFile(p.fset, name, src, 0)
	if err != nil {
		return nil, err
	}
	p.base = p.fset.File(f.Pos()).Base()
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok != token.IMPORT {
			p.unseen = append(p.unseen, [2]token.Pos{g.Pos(), g.End()})
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if c, ok := n.(*ast.CaseClause); ok {
			for _, e := range c.List {
				p.unseen = append(p.unseen, [2]token.Pos{e.Pos(), e.End()})
			}
		}
		return true
	})
	r.files[name] = p
	return p, nil
}

// mutations are the operators gremlins swaps, by kind of mutant (its
// engine's tokenMutations, for the kinds it enables by default).
var mutations = map[string]map[token.Token]token.Token{
	"ARITHMETIC_BASE":       {token.ADD: token.SUB, token.MUL: token.QUO, token.QUO: token.MUL, token.REM: token.MUL, token.SUB: token.ADD},
	"CONDITIONALS_BOUNDARY": {token.GEQ: token.GTR, token.GTR: token.GEQ, token.LEQ: token.LSS, token.LSS: token.LEQ},
	"CONDITIONALS_NEGATION": {token.EQL: token.NEQ, token.GEQ: token.LSS, token.GTR: token.LEQ, token.LEQ: token.GTR, token.LSS: token.GEQ, token.NEQ: token.EQL},
	"INCREMENT_DECREMENT":   {token.DEC: token.INC, token.INC: token.DEC},
	"INVERT_NEGATIVES":      {token.SUB: token.ADD},
}

// run tests mutant m of file name (relative to the copy) when Go's
// coverage cannot see where it is, and sets its status.
func (r *runner) run(name string, m *mutation) error {
	p, err := r.parse(name)
	if err != nil {
		return err
	}
	// The operator at the mutant's line and column.
	var s scanner.Scanner
	file := p.fset.File(token.Pos(p.base))
	s.Init(file, p.src, nil, 0)
	var at token.Pos
	var tok token.Token
	for {
		pos, t, _ := s.Scan()
		if t == token.EOF {
			return fmt.Errorf("%s:%d:%d: no operator there", name, m.Line, m.Column)
		}
		if q := file.Position(pos); q.Line == m.Line && q.Column == m.Column {
			at, tok = pos, t
			break
		}
	}
	seen := true
	for _, u := range p.unseen {
		if at >= u[0] && at < u[1] {
			seen = false
		}
	}
	to, ok := mutations[m.Type][tok]
	if seen || !ok {
		return nil // uncovered indeed, or not a kind this command knows
	}
	off := file.Offset(at)
	mutated := append(append(append([]byte(nil), p.src[:off]...), to.String()...), p.src[off+len(tok.String()):]...)
	path := filepath.Join(r.dir, name)
	if err := os.WriteFile(path, mutated, 0o644); err != nil {
		return err
	}
	defer os.WriteFile(path, p.src, 0o644)
	m.Status, m.ranHere = r.test(filepath.Dir(name)), true
	fmt.Fprintf(os.Stderr, "%12s %s at %s:%d:%d (run here)\n", m.Status, m.Type, name, m.Line, m.Column)
	return nil
}

// test runs the tests of the package in dir (relative to the copy) and
// says what became of the mutant.
func (r *runner) test(dir string) string {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-failfast", "-timeout", (r.timeout + 10*time.Second).String(), "./"+dir)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return "TIMED OUT"
	case err == nil:
		return "LIVED"
	case strings.Contains(out.String(), "[build failed]") || strings.Contains(out.String(), "[setup failed]"):
		return "NOT VIABLE"
	case errors.As(err, &exit):
		return "KILLED"
	}
	return "NOT VIABLE"
}

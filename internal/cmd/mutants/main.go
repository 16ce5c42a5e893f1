// Command mutants prints the table of a mutation run (make mutate): for
// each package, and in all, the mutants gremlins found, the share of them
// a test covers, and the share of the covered ones the tests kill. It
// reads the reports that gremlins unleash -o writes (JSON), and lists the
// mutants that lived.
//
//	go run ./internal/cmd/mutants [-lived] REPORT.json...
//
// A mutant that timed out is counted as killed (the tests did not pass);
// one that did not compile (NOT VIABLE) is no mutant and is counted apart.
// Gremlins' own figures leave the timed-out ones out of both shares.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
)

// report is what gremlins unleash -o writes (the part read here).
type report struct {
	Files []struct {
		Name      string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
}

// tally is one row of the table.
type tally struct {
	killed, timedOut, lived, notCovered, notViable int
	survivors                                      []survivor
}

// survivor is a mutant that lived: where, and what it changed.
type survivor struct {
	file         string
	line, column int
	kind         string
}

func (s survivor) String() string {
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
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: mutants [-lived] REPORT.json...")
		os.Exit(2)
	}
	pkgs := map[string]*tally{}
	for _, name := range flag.Args() {
		if err := read(name, pkgs); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	write(os.Stdout, pkgs, *lived)
}

// read adds the report in file name to pkgs, by package directory.
func read(name string, pkgs map[string]*tally) error {
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
			switch m.Status {
			case "KILLED":
				t.killed++
			case "TIMED OUT":
				t.timedOut++
			case "LIVED":
				t.lived++
				t.survivors = append(t.survivors, survivor{f.Name, m.Line, m.Column, m.Type})
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

func write(w io.Writer, pkgs map[string]*tally, lived bool) {
	names := make([]string, 0, len(pkgs))
	for n := range pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "| package | mutants | covered | killed of covered | killed | timed out | lived | not covered | not viable |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	var all tally
	row := func(name string, t *tally) {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %d | %d | %d | %d | %d |\n", name, t.mutants(), percent(t.covered(), t.mutants()),
			percent(t.killed+t.timedOut, t.covered()), t.killed, t.timedOut, t.lived, t.notCovered, t.notViable)
	}
	for _, n := range names {
		label := n
		if n == "." {
			label = "infuse (root)"
		}
		row(label, pkgs[n])
		all.add(pkgs[n])
	}
	row("**total**", &all)
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

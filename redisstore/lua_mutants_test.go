//go:build luamutants

package redisstore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The scripts' mutation run (make mutate-lua, part of make mutate;
// gremlins mutates Go only), built with the tag luamutants alone, so that
// the package's tests neither run nor skip it. Each
// mutant changes one guard of one Lua file: a comparison flipped at its
// boundary (< and <=, > and >=) or negated (== and ~=, < and >=, > and
// <=), an and for an or or the other way, a not dropped, a guard's return
// dropped (if ... then return ... end), a limit off by one (a number
// beside a comparison, given to int and the kinds' checks, or a named
// constant). This test runs the test binary again for each mutant, with
// the mutant planted (INFUSE_LUA_MUTANT, see PlantLuaMutant), and its
// file's subtest of TestScripts (every subtest for the prelude): a mutant
// is killed when that fails. It prints killed/total per file and the
// survivors, and fails below 90 % killed. About two and a half minutes
// on 2 cores:
//
//	go test -tags luamutants -run '^TestLuaMutants$' -v .
//
// INFUSE_LUA_MUTANTS may name some files (report,prelude) instead of all.
// lua/MUTANTS.md has the figure, and why each survivor lives.
func TestLuaMutants(t *testing.T) {
	which := os.Getenv("INFUSE_LUA_MUTANTS")
	if which == "" {
		which = "all"
	}
	entries, err := luaFiles.ReadDir("lua")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	type job struct {
		file string
		m    mutant // the zero mutant: the file as it is
	}
	var jobs []job
	var files []string
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".lua")
		if which != "all" && !strings.Contains(","+which+",", ","+name+",") {
			continue
		}
		src, _ := luaFiles.ReadFile("lua/" + e.Name())
		files = append(files, e.Name())
		jobs = append(jobs, job{file: e.Name()})
		for _, m := range mutants(string(src)) {
			jobs = append(jobs, job{file: e.Name(), m: m})
		}
	}
	type outcome struct {
		job
		killed bool
		out    string
	}
	results := make([]outcome, len(jobs))
	var wg sync.WaitGroup
	next := make(chan int)
	start := time.Now()
	for range max(runtime.GOMAXPROCS(0), 1) {
		wg.Go(func() {
			for i := range next {
				j := jobs[i]
				killed, out := runMutant(t, dir, i, j.file, j.m)
				results[i] = outcome{job: j, killed: killed, out: out}
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()

	var b strings.Builder
	fmt.Fprintf(&b, "Lua mutants (%s):\n", time.Since(start).Round(time.Second))
	var killed, total int
	for _, f := range files {
		k, n := 0, 0
		var lived []string
		for _, r := range results {
			switch {
			case r.file != f:
			case r.m.what == "":
				if r.killed {
					t.Errorf("lua/%s fails its tests unmutated:\n%s", f, r.out)
				}
			default:
				n++
				if r.killed {
					k++
				} else {
					lived = append(lived, r.m.String())
				}
			}
		}
		killed, total = killed+k, total+n
		fmt.Fprintf(&b, "  %-17s %3d/%3d killed (%5.1f %%)\n", f, k, n, pct(k, n))
		sort.Strings(lived)
		for _, l := range lived {
			fmt.Fprintf(&b, "      lived: %s\n", l)
		}
	}
	fmt.Fprintf(&b, "  %-17s %3d/%3d killed (%5.1f %%)\n", "all", killed, total, pct(killed, total))
	fmt.Print(b.String())
	if which == "all" && pct(killed, total) < 90 {
		t.Errorf("%.1f %% of the scripts' mutants killed, below 90 %%", pct(killed, total))
	}
}

func pct(k, n int) float64 {
	if n == 0 {
		return 100
	}
	return 100 * float64(k) / float64(n)
}

// runMutant runs the file's tests with the mutant planted, in a process
// group of its own (a mutant that never ends is killed with its
// redis-servers). killed: the tests failed.
func runMutant(t *testing.T, dir string, i int, file string, m mutant) (killed bool, out string) {
	src, _ := luaFiles.ReadFile("lua/" + file)
	path := filepath.Join(dir, strconv.Itoa(i)+"-"+file)
	if err := os.WriteFile(path, []byte(m.apply(string(src))), 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	run := "^TestScripts$"
	if file != "prelude.lua" {
		run += "/^" + strings.TrimSuffix(file, ".lua") + "$"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", run, "-test.count=1", "-test.failfast")
	cmd.Env = append(os.Environ(), "INFUSE_LUA_MUTANT="+file+"="+path, "INFUSE_LUA_MUTANTS=", "INFUSE_TEST_RUN=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // its redis-servers, if it left any
	}
	return err != nil, buf.String()
}

// mutant is one change to a Lua file: the bytes [at, at+len(old)) become
// new.
type mutant struct {
	at       int
	old, new string
	line     int
	what     string // "" for none
	text     string // the line, mutated
}

func (m mutant) apply(src string) string {
	if m.what == "" {
		return src
	}
	return src[:m.at] + m.new + src[m.at+len(m.old):]
}

func (m mutant) String() string {
	return fmt.Sprintf("%d %s: %s", m.line, m.what, strings.TrimSpace(m.text))
}

var (
	luaWord     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)
	luaNumber   = regexp.MustCompile(`^[0-9]+`)
	luaGuardRet = regexp.MustCompile(`\bthen (return\b.*) end$`)
	luaConst    = regexp.MustCompile(`^local [A-Z]+ = $`)
	luaLimitFn  = regexp.MustCompile(`(?:^|[^A-Za-z0-9_.])(int|ranged|canonical|matching)\($`)
)

// mutants lists the mutants of a Lua file (see TestLuaMutants). Comments
// and strings are left alone.
func mutants(src string) []mutant {
	var out []mutant
	lineOf := func(at int) (int, int, int) { // number, start, end
		start := strings.LastIndexByte(src[:at], '\n') + 1
		end := strings.IndexByte(src[at:], '\n')
		if end < 0 {
			end = len(src)
		} else {
			end += at
		}
		return strings.Count(src[:at], "\n") + 1, start, end
	}
	add := func(at int, old, new, what string) {
		n, start, end := lineOf(at)
		m := mutant{at: at, old: old, new: new, what: what}
		m.line = n
		m.text = m.apply(src)[start : end+len(new)-len(old)]
		out = append(out, m)
	}
	flips := map[string][]string{
		"<": {"<=", ">="}, "<=": {"<", ">"}, ">": {">=", "<="}, ">=": {">", "<"},
		"==": {"~="}, "~=": {"=="},
	}
	var code []luaToken // the code's tokens, for what is beside a number
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case strings.HasPrefix(src[i:], "--"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			code = append(code, luaToken{i, src[i : j+1]})
			i = j + 1
		case luaWord.MatchString(src[i:]):
			w := luaWord.FindString(src[i:])
			code = append(code, luaToken{i, w})
			i += len(w)
		case c >= '0' && c <= '9':
			n := luaNumber.FindString(src[i:])
			code = append(code, luaToken{i, n})
			i += len(n)
		case c == ' ' || c == '\n' || c == '\t':
			i++
		default:
			op := string(c)
			if i+1 < len(src) && (src[i:i+2] == "<=" || src[i:i+2] == ">=" || src[i:i+2] == "==" || src[i:i+2] == "~=" ||
				src[i:i+2] == "..") {
				op = src[i : i+2]
			}
			code = append(code, luaToken{i, op})
			i += len(op)
		}
	}
	isCmp := func(k int) bool { return k >= 0 && k < len(code) && flips[code[k].text] != nil }
	for k, tk := range code {
		switch {
		case flips[tk.text] != nil:
			for j, to := range flips[tk.text] {
				what := "boundary"
				if j == len(flips[tk.text])-1 {
					what = "negation"
				}
				add(tk.at, tk.text, to, what+" "+tk.text+" → "+to)
			}
		case tk.text == "and":
			add(tk.at, "and", "or", "and → or")
		case tk.text == "or":
			add(tk.at, "or", "and", "or → and")
		case tk.text == "not":
			add(tk.at, "not ", "", "not dropped")
		case luaNumber.MatchString(tk.text):
			_, start, _ := lineOf(tk.at)
			limit := isCmp(k-1) || isCmp(k+1) || luaConst.MatchString(src[start:tk.at]) ||
				k >= 2 && code[k-1].text == "," && limitArg(code, k)
			if !limit {
				continue
			}
			n, err := strconv.ParseInt(tk.text, 10, 64)
			if err != nil {
				continue
			}
			to := n + 1
			if n >= 1<<53-1 {
				to = n - 1 // n + 1 is no other double
			}
			add(tk.at, tk.text, strconv.FormatInt(to, 10), "limit "+tk.text+" → "+strconv.FormatInt(to, 10))
		}
	}
	// A guard's return, on the if's line or alone between it and its end.
	lines := strings.SplitAfter(src, "\n")
	at := 0
	for n, l := range lines {
		code := strings.TrimRight(stripComment(l), " \n")
		if m := luaGuardRet.FindStringSubmatchIndex(code); m != nil {
			add(at+m[2], code[m[2]:m[3]]+" ", "", "guard's return dropped")
		} else if strings.HasPrefix(strings.TrimSpace(code), "return ") && n > 0 && n+1 < len(lines) &&
			strings.HasSuffix(strings.TrimSpace(stripComment(lines[n-1])), " then") &&
			strings.TrimSpace(stripComment(lines[n+1])) == "end" {
			indent := len(code) - len(strings.TrimLeft(code, " "))
			add(at+indent, strings.TrimSpace(code), "", "guard's return dropped")
		}
		at += len(l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].at < out[j].at })
	return out
}

// luaToken is a token of Lua code, where it starts.
type luaToken struct {
	at   int
	text string
}

// limitArg tells whether code[k], a number after a comma, is an
// argument of a call of int or of a kind's check.
func limitArg(code []luaToken, k int) bool {
	depth := 0
	for j := k - 1; j >= 0; j-- {
		switch code[j].text {
		case ")":
			depth++
		case "(":
			if depth == 0 {
				return j > 0 && luaLimitFn.MatchString(" "+code[j-1].text+"(")
			}
			depth--
		}
	}
	return false
}

// stripComment drops a line's comment (a "--" outside strings).
func stripComment(l string) string {
	var q byte
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case q != 0:
			if c == '\\' {
				i++
			} else if c == q {
				q = 0
			}
		case c == '\'' || c == '"':
			q = c
		case strings.HasPrefix(l[i:], "--"):
			return l[:i]
		}
	}
	return l
}

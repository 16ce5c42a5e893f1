package infusesim_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse/infusesim"
)

// svgContent walks an SVG with encoding/xml: it fails the test on
// anything not well-formed, and returns the root's name, the texts, and
// how many of each element there are.
func svgContent(t *testing.T, b []byte) (root string, texts []string, count map[string]int) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	count = map[string]int{}
	depth := 0
	inText := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if root != "" {
					t.Fatal("two root elements")
				}
				root = el.Name.Local
				if el.Name.Space != "http://www.w3.org/2000/svg" {
					t.Fatalf("the root's namespace is %q", el.Name.Space)
				}
			}
			depth++
			count[el.Name.Local]++
			if inText = el.Name.Local == "text"; inText {
				texts = append(texts, "")
			}
		case xml.EndElement:
			depth--
			inText = false
		case xml.CharData:
			if inText {
				texts[len(texts)-1] += string(el)
			}
		}
	}
	return root, texts, count
}

func contains(texts []string, s string) bool {
	for _, x := range texts {
		if x == s {
			return true
		}
	}
	return false
}

func TestWriteSVGIsWellFormedAndShowsEachRun(t *testing.T) {
	s := infusesim.OutageScenario()
	pic := infusesim.Picture{Title: `outage <b>&"'</b>`, Span: s.Duration(), Phases: s.Phases}
	for _, c := range []struct {
		title string
		opts  infusesim.Options
	}{
		{"local ]]> <!--", infusesim.Options{}},
		{"shared \x00\xff", infusesim.Options{Fleet: infusesim.Shared, Delay: time.Millisecond}},
	} {
		run := simulate(t, s, candidate, c.opts)
		pic.Panels = append(pic.Panels, infusesim.Panel{Title: c.title, Members: s.Members, Calls: run.Calls, Changes: run.Changes})
	}
	// A fleet too large for a band each: shares.
	big := infusesim.Scenario{Members: 100, Rate: 20, Phases: s.Phases}
	run := simulate(t, big, candidate, infusesim.Options{})
	pic.Panels = append(pic.Panels, infusesim.Panel{Title: "a hundred", Members: big.Members, Calls: run.Calls, Changes: run.Changes})

	var b bytes.Buffer
	if err := infusesim.WriteSVG(&b, pic); err != nil {
		t.Fatal(err)
	}
	root, texts, count := svgContent(t, b.Bytes())
	if root != "svg" {
		t.Fatalf("root %q", root)
	}
	for _, want := range []string{`outage <b>&"'</b>`, "local ]]> <!--", "shared \uFFFD\uFFFD", "a hundred", "errors 100%", "healthy", "100 members", "share by state", "open", "half-open", "closed", "0s", "12s"} {
		if !contains(texts, want) {
			t.Errorf("no text %q among %q", want, texts)
		}
	}
	if count["polyline"] != 3*3 {
		t.Errorf("%d polylines, want three series for each of three panels", count["polyline"])
	}
	if strings.Contains(b.String(), "href") || strings.Count(b.String(), "http://") != 1 {
		t.Error("the picture refers to something outside itself")
	}
}

func TestWriteSVGOfAReplayLabelsItsBreakers(t *testing.T) {
	recs := []infusesim.Record{
		{Time: t0, Name: "<payments>", Outcome: infusesim.Failed},
		{Time: t0.Add(time.Second), Name: "<payments>", Outcome: infusesim.Failed},
		{Time: t0.Add(2 * time.Second), Name: "search & co", Outcome: infusesim.Succeeded},
	}
	run := replay(t, recs, recorded)
	var b bytes.Buffer
	err := infusesim.WriteSVG(&b, infusesim.Picture{Title: "replay", Phases: run.Phases(time.Second), Panels: []infusesim.Panel{
		{Title: "candidate", Members: len(run.Names), Calls: run.Calls(), Changes: run.Changes, Labels: run.Names},
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, texts, _ := svgContent(t, b.Bytes())
	for _, want := range []string{"<payments>", "search & co", "errors 100%"} {
		if !contains(texts, want) {
			t.Errorf("no text %q among %q", want, texts)
		}
	}
	// Nothing to draw is still a picture.
	b.Reset()
	if err := infusesim.WriteSVG(&b, infusesim.Picture{}); err != nil {
		t.Fatal(err)
	}
	if root, _, _ := svgContent(t, b.Bytes()); root != "svg" {
		t.Fatalf("an empty picture: %q", b.String())
	}
}

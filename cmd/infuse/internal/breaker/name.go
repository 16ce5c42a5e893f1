// Package breaker is what the infuse command knows of a breaker, whichever
// of its parts shows it: its name fit to print (Printable), its view
// (View: status -json and the dashboard), why it rejects calls, why it
// changed state (Cause: the one place a transition is put into words),
// and the operator's actions on it (Act).
package breaker

import (
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/infuse-go/infuse"
)

// Printable returns name as one visible line: as it is when every rune of
// it is printable and valid UTF-8, else Go-quoted (control characters,
// escape sequences and invalid bytes written as \x.., \u....), so that a
// name can neither move the cursor, clear a line nor forge a row, and two
// names that differ show differently.
func Printable(name string) string {
	// A name that begins with a quote is quoted too, so that it cannot
	// pass for another name's quoted form.
	if name == "" || name[0] == '"' {
		return strconv.Quote(name)
	}
	for _, r := range name {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return strconv.Quote(name)
		}
	}
	return name
}

// PathID is name percent-encoded byte by byte: a path segment that
// decodes to the very bytes of name.
func PathID(name string) string { return url.PathEscape(name) }

// IsShadow tells the name of a shadow's candidate breaker.
func IsShadow(name string) bool { return strings.HasSuffix(name, infuse.ShadowSuffix) }

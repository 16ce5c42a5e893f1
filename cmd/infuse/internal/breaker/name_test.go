package breaker

import "testing"

// Every name prints as one visible line, and names that differ print
// differently.
func TestPrintable(t *testing.T) {
	for name, want := range map[string]string{
		"payments":                          "payments",
		"zz\r\x1b[2K\x1b[1Apayments closed": `"zz\r\x1b[2K\x1b[1Apayments closed"`,
		"a\nb":                              `"a\nb"`,
		"bad\xff":                           `"bad\xff"`,
		"bad\xfe":                           `"bad\xfe"`,
		`"payments"`:                        `"\"payments\""`,
		"":                                  `""`,
		"café":                              "café",
		"\u202egnp.exe":                     `"\u202egnp.exe"`,
	} {
		if got := Printable(name); got != want {
			t.Errorf("Printable(%q) = %s, want %s", name, got, want)
		}
	}
}

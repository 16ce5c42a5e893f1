package redisstore

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/infuse-go/infuse/storage"
)

// The scripts number causes as storage.Cause does: each name in the
// prelude's CAUSE table is a cause's name, with its number.
func TestTheScriptsCausesAreStoragesCauses(t *testing.T) {
	src, err := luaFiles.ReadFile("lua/prelude.lua")
	if err != nil {
		t.Fatal(err)
	}
	table := regexp.MustCompile(`(?s)local CAUSE = \{(.*?)\}`).FindSubmatch(src)
	if table == nil {
		t.Fatal("no CAUSE table in prelude.lua")
	}
	entries := regexp.MustCompile(`(\w+) = (\d+)`).FindAllStringSubmatch(string(table[1]), -1)
	if len(entries) < 8 {
		t.Fatalf("CAUSE has %d entries", len(entries))
	}
	for _, e := range entries {
		name := strings.ReplaceAll(e[1], "_", "-")
		n, _ := strconv.Atoi(e[2])
		c, ok := storage.ParseCause(name)
		if !ok || int(c) != n {
			t.Errorf("CAUSE.%s = %d; storage says %v (%d, known %v)", e[1], n, c, c, ok)
		}
	}
}

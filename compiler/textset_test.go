package compiler_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/rules"
)

// TestStringSetMaps: one named set read three ways (exact names, host
// names folded, command names) makes three maps of their own key layouts,
// each shared by the fields that read it that way; inline sets become maps
// from compiler.TextSetMapMin names on.
func TestStringSetMaps(t *testing.T) {
	var names []string
	for i := range 40 {
		names = append(names, fmt.Sprintf("%q", fmt.Sprintf("n%d", i)))
	}
	list := strings.Join(names, ", ")
	out := ktCompile(t, "textsets.rules", fmt.Sprintf(`
set x { "curl", "nc", "/a" }
rule a { hook syscall connect  match proc.name in $x  log proc.name }
rule b { match http.request.uri in $x || http.user_agent in $x  log http.request.uri }
rule c { match http.host in $x || dns.qry.name in $x  log http.host }
rule d { match http.host in {%s}  log http.host }
rule e { match http.host in {"a", "b", "c"}  log http.host }
`, list))
	want := map[string]string{
		"set_x_s":  "40 http.request.uri,http.user_agent",
		"set_x_si": "40 http.host,dns.qry.name",
		"set_x_c":  "16 proc.name",
	}
	inline := 0
	for _, m := range out.Sets {
		if m.Type != rules.TypeString {
			t.Errorf("map %s of %s", m.Name, m.Type)
			continue
		}
		got := fmt.Sprintf("%d %s", m.KeySize, strings.Join(m.Fields, ","))
		if m.Set == "" {
			inline++
			if m.Len() != 40 || got != "16 http.host" {
				t.Errorf("inline map %s: %s, %d keys", m.Name, got, m.Len())
			}
			continue
		}
		if want[m.Name] != got {
			t.Errorf("map %s: %s, want %s", m.Name, got, want[m.Name])
		}
		delete(want, m.Name)
	}
	if len(want) > 0 || inline != 1 {
		t.Errorf("maps missing: %v; %d inline maps, want 1 (three names stay compares)", want, inline)
	}
}

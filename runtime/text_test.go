package runtime

import (
	"encoding/json"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
)

// TestJSONString: text values are valid JSON whatever their bytes: control
// characters escaped, bytes that are not UTF-8 written as \xNN.
func TestJSONString(t *testing.T) {
	for in, want := range map[string]string{
		"example.com":    `"example.com"`,
		`a "quoted" \ b`: `"a \"quoted\" \\\\ b"`,
		// A byte that is not UTF-8 and the four characters that spell
		// it print differently.
		"\xff":             `"\\xff"`,
		`\xff`:             `"\\\\xff"`,
		"tab\there\r\n":    `"tab\there\r\n"`,
		"\x00\x01\x7f":     `"\u0000\u0001\u007f"`,
		"caf\xc3\xa9":      `"café"`,
		"bad\xff\xfe":      `"bad\\xff\\xfe"`,
		"cut\xc3":          `"cut\\xc3"`,
		"<Root>":           `"<Root>"`,
		"":                 `""`,
		"\xe2\x82\xac 100": `"€ 100"`,
	} {
		got := string(AppendJSONString(nil, []byte(in)))
		if got != want {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
		var s string
		if err := json.Unmarshal([]byte(got), &s); err != nil {
			t.Errorf("%q: %s is not JSON: %v", in, got, err)
		}
	}
}

// TestTextValue: a reference value prints as the kernel's event would:
// cut to its maximum length and marked, or redacted with its length.
func TestTextValue(t *testing.T) {
	slot := &compiler.FieldSlot{Name: "http.request.uri", Render: compiler.RenderText, MaxLen: 4, Size: 16}
	for _, c := range []struct {
		slot    compiler.FieldSlot
		present bool
		value   string
		want    string
	}{
		{*slot, true, "/abc", `"/abc"`},
		{*slot, true, "/abcdef", `"/abc","http.request.uri.truncated":true,"http.request.uri.len":7`},
		{*slot, false, "", `null`},
		{compiler.FieldSlot{Name: "http.cookie", Render: compiler.RenderText, MaxLen: 4, Size: 16, Redact: true}, true, "a=secret", `"[redacted]","http.cookie.len":8`},
	} {
		v := TextValue(&c.slot, c.present, []byte(c.value))
		got := string(appendTextMarks(AppendValue(nil, &v), &v))
		if got != c.want {
			t.Errorf("%s %q: got %s, want %s", c.slot.Name, c.value, got, c.want)
		}
	}
}

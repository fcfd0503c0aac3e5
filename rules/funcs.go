package rules

import (
	"fmt"
	"sort"
	"strings"
)

// The functions a match expression may apply to a field. A name not in this
// table is an error: an unknown function must never change what a rule means
// (it once acted as lower()).

// functions are the functions hdrlog knows, with what each does.
var functions = map[string]string{
	"lower": "lower-cases a string field before the comparison",
	"upper": "upper-cases a string field before the comparison",
	"len":   "the length in bytes of a string field or an address",
}

// wiresharkFunctions are Wireshark's display-filter functions that hdrlog
// does not run, so that their names get a plain "not supported" rather than
// a guess.
var wiresharkFunctions = map[string]bool{
	"count": true, "string": true, "vals": true, "dec": true,
	"hex": true, "float": true, "double": true, "max": true, "min": true,
	"abs": true,
}

// checkFunc reports a function name hdrlog does not know, at the name.
func (c *checker) checkFunc(fn FieldName) bool {
	if fn.Func == "" {
		return true
	}
	if _, ok := functions[fn.Func]; ok {
		return true
	}
	span := fn.FuncSpan
	if span.Start.IsValid() {
		span.End = span.Start
		span.End.Offset += len(fn.Func)
		span.End.Column += len(fn.Func)
	}
	known := knownFunctions()
	if wiresharkFunctions[fn.Func] {
		c.errorf(span, "hdrlog's functions are "+known, "Wireshark function %s() is not supported by hdrlog", fn.Func)
		return false
	}
	hint := "hdrlog's functions are " + known
	if near := nearestFunc(fn.Func); near != "" {
		hint = fmt.Sprintf("did you mean %s(%s)? (%s)", near, fn.Name, hint)
	}
	c.errorf(span, hint, "unknown function %s()", fn.Func)
	return false
}

// knownFunctions lists the function names, sorted, as "lower() and upper()".
func knownFunctions() string {
	names := make([]string, 0, len(functions))
	for n := range functions {
		names = append(names, n+"()")
	}
	sort.Strings(names)
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// nearestFunc is the known function closest to name, if one is close.
func nearestFunc(name string) string {
	best, bestD := "", len(name)/2+1
	for n := range functions {
		d := EditDistance(strings.ToLower(name), n)
		if d < bestD || d == bestD && best != "" && n < best {
			best, bestD = n, d
		}
	}
	return best
}

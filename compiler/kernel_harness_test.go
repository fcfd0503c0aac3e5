package compiler_test

// The kernel harness: rules written in the DSL are compiled, loaded into the
// kernel once per test table, and each frame is run through the program of
// every hook with BPF_PROG_TEST_RUN. The events are decoded by the schema the
// compiler emitted and rendered as the JSON lines users see, so an
// expectation reads like the output: {"ip.src":"10.0.0.1","tcp.dstport":null}.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// ktHook is one hook the harness runs every rule through: each rule is
// written once per hook, its name suffixed, so that one rule file and one
// load serve all hooks.
type ktHook struct {
	Hook   rules.Hook
	Stmt   string // the hook statement; "" keeps the default (tc ingress)
	Suffix string
}

// ktHooks are the hooks the kernel tables run through: tc ingress (the
// default hook, so its rules carry no hook statement) and XDP. Test runs
// keep VLAN tags inline at tc too (DESIGN.md), so tc egress would see the
// same bytes as tc ingress through the same code; ktAllHooks adds it where
// every program must be checked (verifier acceptance).
var ktHooks = []ktHook{
	{rules.HookTCIngress, "", "tci"},
	{rules.HookXDP, "hook xdp", "xdp"},
}

var ktAllHooks = []ktHook{
	{rules.HookTCIngress, "", "tci"},
	{rules.HookTCEgress, "hook tc egress", "tce"},
	{rules.HookXDP, "hook xdp", "xdp"},
}

// ktRule is one rule of a table, without its hook.
type ktRule struct {
	Name  string
	Match string // "" for none: every packet
	Log   []string
}

// ktSource writes rules as a DSL file, one copy per hook.
func ktSource(rs []ktRule, hooks []ktHook) string {
	var b strings.Builder
	for _, h := range hooks {
		for _, r := range rs {
			fmt.Fprintf(&b, "rule %s_%s {\n", r.Name, h.Suffix)
			if h.Stmt != "" {
				fmt.Fprintf(&b, "\t%s\n", h.Stmt)
			}
			if r.Match != "" {
				fmt.Fprintf(&b, "\tmatch %s\n", r.Match)
			}
			fmt.Fprintf(&b, "\tlog %s\n}\n", strings.Join(r.Log, ", "))
		}
	}
	return b.String()
}

// ktCompile parses, checks and compiles DSL text; any error fails the test.
func ktCompile(t testing.TB, filename, src string) *compiler.Output {
	t.Helper()
	return ktCompileWith(t, filename, src, compiler.Options{})
}

// ktCompileWith is ktCompile with options.
func ktCompileWith(t testing.TB, filename, src string, opts compiler.Options) *compiler.Output {
	t.Helper()
	f, diags := lang.ParseDSL(filename, []byte(src))
	if diags.HasErrors() {
		t.Fatalf("parse %s:\n%v\nsource:\n%s", filename, diags, ktNumbered(src))
	}
	rs, diags := rules.Check(f)
	if diags.HasErrors() {
		t.Fatalf("check %s:\n%v\nsource:\n%s", filename, diags, ktNumbered(src))
	}
	out, err := compiler.Compile(rs, opts)
	if err != nil {
		t.Fatalf("compile %s: %v", filename, err)
	}
	for _, p := range out.Programs {
		if err := compiler.CheckContract(p); err != nil {
			t.Fatalf("compile %s: %v", filename, err)
		}
	}
	return out
}

func ktNumbered(src string) string {
	var b strings.Builder
	for i, l := range strings.Split(src, "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, l)
	}
	return b.String()
}

// ktLoaded is a table's rules loaded into the kernel.
type ktLoaded struct {
	coll  *runtime.Collection
	rules []ktRule
	hooks []ktHook
}

// ktLoad compiles and loads rules for hooks; the collection is closed when
// the test ends.
func ktLoad(t testing.TB, name string, rs []ktRule, hooks []ktHook, ringBytes int) *ktLoaded {
	t.Helper()
	out := ktCompile(t, name+".rules", ktSource(rs, hooks))
	coll, err := runtime.Load(out, runtime.LoadOptions{RingBytes: ringBytes})
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	t.Cleanup(func() { coll.Close() })
	return &ktLoaded{coll: coll, rules: rs, hooks: hooks}
}

// ktEvent is one decoded event, as its JSON line and by member.
type ktEvent struct {
	Rule   string // the rule's name without the hook suffix
	Name   string // the rule's name in the rule set, with the suffix
	Line   string
	Fields map[string]json.RawMessage
}

// run runs frame once through the program of hook h and returns the events
// it emitted, by rule name (without the hook suffix).
func (k *ktLoaded) run(h ktHook, frame []byte) (map[string][]ktEvent, error) {
	if err := k.coll.Run(h.Hook, frame); err != nil {
		return nil, err
	}
	return k.drain()
}

func (k *ktLoaded) drain() (map[string][]ktEvent, error) {
	schema := k.coll.Output.Schema
	evs := map[string][]ktEvent{}
	err := k.coll.Drain(func(ev *runtime.Event) error {
		line := runtime.AppendJSON(nil, schema, ev, runtime.Meta{Time: time.Unix(0, 0), Iface: "test"})
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(line, &fields); err != nil {
			return fmt.Errorf("event is not JSON: %v: %s", err, line)
		}
		name := schema.Rules[ev.Rule].Name
		base := name[:strings.LastIndexByte(name, '_')]
		evs[base] = append(evs[base], ktEvent{Rule: base, Name: name, Line: string(line), Fields: fields})
		return nil
	})
	return evs, err
}

// ktWant parses an expectation: a JSON object of logged fields and their
// values. It panics on a malformed one (a bug in the table).
func ktWant(s string) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(fmt.Sprintf("bad expectation %s: %v", s, err))
	}
	for k, v := range m {
		var c bytes.Buffer
		if err := json.Compact(&c, v); err != nil {
			panic(err)
		}
		m[k] = c.Bytes()
	}
	// Fields that restate others, as in Wireshark: an IPv6 header's
	// version is ip.version too, and an outer tag with TPID 0x88a8 (an
	// 802.1ad S-tag) is ieee8021ad.* besides vlan.*#1.
	if v, ok := m["ipv6.version"]; ok {
		if _, set := m["ip.version"]; !set {
			m["ip.version"] = v
		}
	}
	if string(m["eth.type"]) == `"0x88a8"` {
		if id, ok := m["vlan.id#1"]; ok {
			m["ieee8021ad.id"], m["ieee8021ad.priority"] = id, m["vlan.priority#1"]
			m["ieee8021ad.dei"] = map[string]json.RawMessage{"true": json.RawMessage("1"), "false": json.RawMessage("0")}[string(m["vlan.dei#1"])]
		}
	}
	return m
}

// ktCheckFields compares the logged fields of ev with want: each field want
// names must have that value, every other logged field must be null. It
// reports whether all are right.
func ktCheckFields(t testing.TB, ctx string, ev ktEvent, logged []string, want map[string]json.RawMessage) bool {
	t.Helper()
	for k := range want {
		if !ktContains(logged, k) {
			panic(fmt.Sprintf("%s: expectation names %s, which the rule does not log", ctx, k))
		}
	}
	var bad []string
	for _, name := range logged {
		got, ok := ev.Fields[name]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s: missing from the event", name))
			continue
		}
		w, ok := want[name]
		if !ok {
			w = json.RawMessage("null")
		}
		if !bytes.Equal(got, w) {
			bad = append(bad, fmt.Sprintf("%s = %s, want %s", name, got, w))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s: %d field(s) wrong:\n\t%s\nevent: %s", ctx, len(bad), strings.Join(bad, "\n\t"), ev.Line)
	}
	return len(bad) == 0
}

func ktContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// ktHex renders a frame for failure reports, to be pasted into a bug.
func ktHex(frame []byte) string { return hex.EncodeToString(frame) }

// ktAllFields lists every catalogue field that can be logged, with one
// entry per occurrence of multi-layer fields (vlan.id#1, vlan.id#2), in
// catalogue order. L7 fields have tables of their own (kernel_l7_test.go).
func ktAllFields() []string {
	var out []string
	for _, f := range rules.Fields() {
		if f.Type == rules.TypeProto || f.IsEither() || f.Header.IsL7() || rules.IsBytes(f) {
			continue // byte fields: kernel_payload_test.go
		}
		if f.MaxLayers() == 1 {
			out = append(out, f.Name)
			continue
		}
		for l := 1; l <= f.MaxLayers(); l++ {
			out = append(out, fmt.Sprintf("%s#%d", f.Name, l))
		}
	}
	return out
}

// ktField resolves a logged name ("vlan.id#2") to its catalogue field.
func ktField(name string) *rules.Field {
	if i := strings.IndexByte(name, '#'); i >= 0 {
		name = name[:i]
	}
	f, ok := rules.LookupField(name)
	if !ok {
		panic("unknown field " + name)
	}
	return f
}

func ktSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

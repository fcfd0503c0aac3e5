package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hdrlog/hdrlog/bench/internal/measure"
	"github.com/hdrlog/hdrlog/bench/internal/suite"
	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/blocklist"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
)

// The sets section: where a set's chain of compares stops paying against a
// map lookup (the crossover that sets compiler.SetMapMin), and the sizes
// sets reach as maps.

// setKind is one kind of set of the crossover table: the field, how to
// write element i, and a packet whose value is in no set. Text kinds are
// string sets (their map threshold is compiler.TextSetMapMin); Hit, when
// set, makes a packet whose value is element 0, which both programs must
// log (a check that the miss is a miss of a working test).
type setKind struct {
	Name  string
	Field string
	Elem  func(i int) string
	Miss  []byte
	Text  bool
	Hit   func(i int) []byte
}

var setKinds = []setKind{
	{"ports", "tcp.dstport", func(i int) string { return fmt.Sprint(1000 + 7*i) }, setMissV4(), false, nil},
	{"IPv4 addresses", "ip.src", func(i int) string { return fmt.Sprintf("198.18.%d.%d", i/256, i%256) }, setMissV4(), false, nil},
	{"IPv4 prefixes", "ip.src", func(i int) string { return fmt.Sprintf("198.%d.%d.0/24", 18+i/256, i%256) }, setMissV4(), false, nil},
	{"IPv6 addresses", "ipv6.src", func(i int) string { return fmt.Sprintf("2001:db8::%x", i+1) }, setMissV6(), false, nil},
}

// setMissV4 and setMissV6 match no set: a TCP segment from outside every
// set's values, to a port in none.
func setMissV4() []byte {
	return testpkt.New().IPv4("172.16.0.1", "172.16.0.2").TTL(64).TCP(12345, 9999).Flags(testpkt.ACK).Payload(make([]byte, 64)).Bytes()
}

func setMissV6() []byte {
	return testpkt.New().IPv6("fd00::1", "fd00::2").TCP(12345, 9999).Flags(testpkt.ACK).Payload(make([]byte, 64)).Bytes()
}

// crossRow is one (kind, size) of the crossover table.
type crossRow struct {
	Kind                string
	N                   int
	CodeInsns, MapInsns int
	// CodeLoad and MapLoad are the compile + load (verify) times of the
	// two programs.
	CodeLoad, MapLoad time.Duration
	Cell              *cell
	Err               string
}

const (
	implSetCode = "code"
	implSetMap  = "map"
)

// setRule writes a rule testing field against the elements.
func setRule(name, field string, elems []string) string {
	return fmt.Sprintf("rule %s {\n    match %s in {%s}\n    log %s\n}\n", name, field, strings.Join(elems, ", "), field)
}

// compileWithMapMin compiles with compiler.SetMapMin set to min.
func compileWithMapMin(rs *rules.RuleSet, min int) (*compiler.Output, error) {
	saved := compiler.SetMapMin
	compiler.SetMapMin = min
	defer func() { compiler.SetMapMin = saved }()
	return compiler.Compile(rs, compiler.Options{WakeupBytes: noWakeup})
}

func (b *bench) benchSetCrossover() []*crossRow {
	sizes := []int{1, 2, 4, 8, 16, 32, 64, 128, 256}
	if b.quick {
		sizes = []int{1, 16, 64}
	}
	var rows []*crossRow
	for _, k := range setKinds {
		if k.Text {
			continue
		}
		for _, n := range sizes {
			b.logf("sets: crossover, %d %s", n, k.Name)
			rows = append(rows, b.crossOne(k, n))
		}
	}
	return rows
}

func (b *bench) crossOne(k setKind, n int) *crossRow {
	row := &crossRow{Kind: k.Name, N: n}
	var elems []string
	for i := range n {
		elems = append(elems, k.Elem(i))
	}
	rs, err := suite.Check("set", setRule("s", k.Field, elems))
	if err != nil {
		row.Err = err.Error()
		return row
	}
	var impls []*impl
	for _, v := range []struct {
		name  string
		min   int
		insns *int
		load  *time.Duration
	}{{implSetCode, 1 << 30, &row.CodeInsns, &row.CodeLoad}, {implSetMap, 1, &row.MapInsns, &row.MapLoad}} {
		compile := compileWithMapMin
		if k.Text {
			compile = compileWithTextMapMin
		}
		start := time.Now()
		out, err := compile(rs, v.min)
		if err != nil {
			row.Err = err.Error()
			return row
		}
		im, err := loadHdrlog(v.name, out, rules.HookTCIngress, ringFor(recordBytes(256), 1))
		*v.load = time.Since(start)
		if err != nil {
			row.Err = v.name + ": " + firstLines1(err.Error())
			return row
		}
		defer im.Close()
		*v.insns = im.insns
		if evs, err := runOnce(im, k.Miss); err != nil || len(evs) != 0 {
			row.Err = fmt.Sprintf("%s: the miss packet gave %d events: %v", v.name, len(evs), err)
			return row
		}
		if k.Hit != nil {
			if evs, err := runOnce(im, k.Hit(0)); err != nil || len(evs) != 1 {
				row.Err = fmt.Sprintf("%s: the hit packet gave %d events: %v", v.name, len(evs), err)
				return row
			}
		}
		impls = append(impls, im)
	}
	row.Cell, err = runCell(fmt.Sprintf("%s/%d", k.Name, n), "miss", append([]*impl{b.emptyTC}, impls...), k.Miss, b.repeat, b.trials)
	if err != nil {
		row.Err = err.Error()
	}
	return row
}

// codeAndMap renders a crossover cell: the chain's and the map's ns above
// the empty program and their ratio ("–" when the cell did not run).
func codeAndMap(c *cell) (code, mp, rat string) {
	if c == nil {
		return "–", "–", "–"
	}
	cs, ms := c.net(implSetCode, implEmpty, true), c.net(implSetMap, implEmpty, true)
	return ns(cs), ns(ms), ratio(ms, cs)
}

func (r *report) setsCrossover(p func(string, ...any)) {
	p("### (a) Crossover: a chain of compares against a map lookup")
	p("")
	p("One rule `FIELD in {n elements}`, compiled both ways (`compiler.SetMapMin` forced), timed on a packet whose value is in no set (a chain's worst case, and the common one: most traffic is not on a blocklist). ns per packet above the empty program, median [min–max] over %d trials, both programs in the same trials; *map ÷ code* is the ratio of the medians. hdrlog compiles a set into a map from %d elements.", r.Bench.trials, compiler.SetMapMin)
	p("")
	p("| set | n | code insns | map insns | code (ns) | map (ns) | map ÷ code | error |")
	p("|---|---|---|---|---|---|---|---|")
	for _, row := range r.SetCross {
		code, mp, rat := codeAndMap(row.Cell)
		p("| %s | %d | %d | %d | %s | %s | %s | %s |", row.Kind, row.N, row.CodeInsns, row.MapInsns, code, mp, rat, mdCell(row.Err))
	}
	p("")
}

// mdCell makes text fit in a table cell.
func mdCell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\n", " ⏎ "), "|", "\\|")
}

// setScaleRow is one large set: the time from rule text to a loaded,
// filled map, and its per-packet cost against the same rule with a
// 1-element set.
type setScaleRow struct {
	What  string
	Elems int
	// The steps of the run whose total is the median of Totals, each run
	// in a fresh process (setLoadTimes).
	Parse    time.Duration // parse and check
	Compile  time.Duration
	Load     time.Duration // create maps, verify, load, fill
	Totals   []time.Duration
	Maps     string
	Cells    []*cell
	Err      string
	baseline string
}

const implSetOne = "1-element set"

// timedCompile parses, checks and compiles DSL text, timing the steps
// (parse + check includes reading the named sets' files).
func timedCompile(row *setScaleRow, name, src string) *compiler.Output {
	start := time.Now()
	f, diags := lang.ParseDSL(name, []byte(src))
	if !diags.HasErrors() {
		_, sd := lang.ReadSetFiles(f, os.TempDir())
		diags = append(diags, sd...)
	}
	var rs *rules.RuleSet
	if !diags.HasErrors() {
		var cd rules.Diagnostics
		rs, cd = rules.Check(f)
		diags = append(diags, cd...)
	}
	row.Parse = time.Since(start)
	if diags.HasErrors() {
		row.Err = firstLines1(fmt.Sprint(diags.Errors()))
		return nil
	}
	start = time.Now()
	out, err := compiler.Compile(rs, compiler.Options{WakeupBytes: noWakeup})
	row.Compile = time.Since(start)
	if err != nil {
		row.Err = err.Error()
		return nil
	}
	var maps []string
	for _, m := range out.Sets {
		maps = append(maps, fmt.Sprintf("%s of %d", m.Kind, m.Len()))
	}
	row.Maps = strings.Join(maps, ", ")
	return out
}

// setScaleCase is a large set to time: its rule text and the rule text of
// its 1-element twin, and packets to time both on.
type setScaleCase struct {
	What    string
	Elems   int
	Src     func() string
	One     string
	Packets []setPacket
}

// setPacket is a packet of a large set's per-packet rows.
type setPacket struct {
	Class string
	Frame []byte
}

func (b *bench) benchSetScale() []*setScaleRow {
	var rows []*setScaleRow
	for _, c := range setScaleCases(b.quick) {
		b.logf("sets: %s", c.What)
		rows = append(rows, b.setScaleOne(c))
	}
	os.Remove(setFilePath("set"))
	return rows
}

// setFilePath is where this process writes a large set's file.
func setFilePath(what string) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("hdrlog-bench-%s-%d.txt", what, os.Getpid()))
}

func (b *bench) setScaleOne(c setScaleCase) *setScaleRow {
	row := &setScaleRow{What: c.What, Elems: c.Elems}
	src := c.Src()
	if !b.setLoadTimes(row, src) {
		return row
	}
	var scratch0 setScaleRow
	out := timedCompile(&scratch0, "big", src)
	if out == nil {
		row.Err = scratch0.Err
		return row
	}
	big, err := loadHdrlog(implHdrlog, out, rules.HookTCIngress, ringFor(recordBytes(48), 1))
	if err != nil {
		row.Err = firstLines1(err.Error())
		return row
	}
	defer big.Close()
	var scratch setScaleRow
	oneOut := timedCompile(&scratch, "one", c.One)
	if oneOut == nil {
		row.Err = "1-element twin: " + scratch.Err
		return row
	}
	one, err := loadHdrlog(implSetOne, oneOut, rules.HookTCIngress, ringFor(recordBytes(48), 1))
	if err != nil {
		row.Err = "1-element twin: " + firstLines1(err.Error())
		return row
	}
	defer one.Close()
	for _, pk := range c.Packets {
		class, fr := pk.Class, pk.Frame
		for _, im := range []*impl{big, one} {
			if evs, err := runOnce(im, fr); err != nil || len(evs) != 0 {
				row.Err = fmt.Sprintf("%s: %s gave %d events: %v", im.name, class, len(evs), err)
				return row
			}
		}
		cl, err := runCell(c.What, class, []*impl{b.emptyTC, big, one}, fr, b.repeat, b.trials)
		if err != nil {
			row.Err = err.Error()
			return row
		}
		row.Cells = append(row.Cells, cl)
	}
	return row
}

// setLoadReps is how many fresh processes time a large set from text to
// loaded.
func setLoadReps(quick bool) int {
	if quick {
		return 1
	}
	return 5
}

// setLoadTimes times src from text to loaded in fresh processes (this
// program again, -set-load-child), as a user's `hdrlog check` or `run`
// meets it: in a process that has already grown its heap (as this one
// has, by the time it gets here), a million elements cost a fraction of
// what they cost a new process on a machine where first touching memory
// is dear (docs/volume.md). The row gets the steps of the median run and
// every run's total.
func (b *bench) setLoadTimes(row *setScaleRow, src string) bool {
	f, err := os.CreateTemp("", "hdrlog-bench-set-*.rules")
	if err != nil {
		row.Err = err.Error()
		return false
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(src); err != nil {
		row.Err = err.Error()
		return false
	}
	f.Close()
	// A child inherits this thread's CPU (measure.Pin); a user's hdrlog
	// has every CPU (it fills the maps of a set at once).
	measure.Unpin()
	defer func() {
		if err := measure.Pin(b.cpu); err != nil {
			fatalf("%v", err)
		}
	}()
	var runs []setScaleRow
	for range setLoadReps(b.quick) {
		out, err := exec.Command(os.Args[0], "-set-load-child", f.Name()).Output()
		var r setScaleRow
		if err == nil {
			err = json.Unmarshal(out, &r)
		}
		if err != nil {
			row.Err = fmt.Sprintf("timing in a fresh process: %v", err)
			return false
		}
		if r.Err != "" {
			row.Err = r.Err
			return false
		}
		runs = append(runs, r)
	}
	total := func(r setScaleRow) time.Duration { return r.Parse + r.Compile + r.Load }
	slices.SortFunc(runs, func(a, b setScaleRow) int { return cmp.Compare(total(a), total(b)) })
	med := runs[len(runs)/2]
	row.Parse, row.Compile, row.Load, row.Maps = med.Parse, med.Compile, med.Load, med.Maps
	for _, r := range runs {
		row.Totals = append(row.Totals, total(r))
	}
	return true
}

// setLoadChild is -set-load-child: it times one rule file from text to
// loaded and writes the row as JSON to standard output.
func setLoadChild(path string) {
	src, err := os.ReadFile(path)
	if err != nil {
		fatalf("%v", err)
	}
	var row setScaleRow
	if out := timedCompile(&row, "big", string(src)); out != nil {
		start := time.Now()
		coll, err := loadHdrlog(implHdrlog, out, rules.HookTCIngress, ringFor(recordBytes(48), 1))
		row.Load = time.Since(start)
		if err != nil {
			row.Err = firstLines1(err.Error())
		} else {
			coll.Close()
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(&row); err != nil {
		fatalf("%v", err)
	}
}

// setScaleCases are the large sets: a million mixed IPv4 and IPv6
// addresses and prefixes in a set file (examples/sets/blocklist_1m.rules'
// shape), and a hundred thousand inline addresses.
func setScaleCases(quick bool) []setScaleCase {
	million := 1_000_000
	inline := 100_000
	if quick {
		million, inline = 20_000, 5_000
	}
	pk := []setPacket{{"miss IPv4", setMissV4()}, {"miss IPv6", setMissV6()}}
	return []setScaleCase{
		{
			What: fmt.Sprintf("%d mixed IPv4/IPv6 addresses and prefixes, a set file", million), Elems: million,
			Src: func() string { return mixedSetFileRule(million) },
			One: "rule big {\n    match ip.src in {198.18.0.1} || ipv6.src in {2001:db8::1}\n    log ip.src, ipv6.src\n}\n", Packets: pk,
		},
		{
			What: fmt.Sprintf("%d inline IPv4 addresses", inline), Elems: inline,
			Src: func() string {
				var elems []string
				for i := range inline {
					elems = append(elems, fmt.Sprintf("10.%d.%d.%d", 64+i>>16, i>>8&0xff, i&0xff))
				}
				return setRule("big", "ip.src", elems)
			},
			One: setRule("big", "ip.src", []string{"198.18.0.1"}), Packets: pk,
		},
	}
}

// mixedSetFileRule writes n elements of the examples' blocklist (half
// IPv4, half IPv6, one in eight a prefix) to a file and returns a rule
// using them as a named set.
func mixedSetFileRule(n int) string {
	path := setFilePath("set")
	var sb strings.Builder
	if err := blocklist.Write(&sb, n); err != nil {
		fatalf("set file: %v", err)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		fatalf("set file: %v", err)
	}
	return fmt.Sprintf("set big file %q\nrule big {\n    match ip.src in $big || ipv6.src in $big\n    log ip.src, ipv6.src\n}\n", path)
}

func (r *report) setsScale(p func(string, ...any)) {
	p("### (b) Large sets")
	p("")
	r.setsScaleTable(p, r.SetScale)
}

// setsScaleTable writes the method and the table of large sets.
func (r *report) setsScaleTable(p func(string, ...any), rows []*setScaleRow) {
	p("Rule text to a loaded program, timed in %d fresh processes (as `hdrlog check` or `run` meets it): *parse + check* (DSL front end and checker), *compile*, *load* (maps created, programs verified and loaded, the set maps filled) of the run with the median total; *parse to loaded* is that median [min–max].", setLoadReps(r.Bench.quick))
	p("")
	p("Per packet: ns above the empty program on a packet in no set, median [min–max] over %d trials, against the same rule with a 1-element set (compiled to a compare) in the same trials: *÷ 1* is the ratio of the ns above the empty program, *total ÷ 1* of the whole run's ns (empty program included).", r.Bench.trials)
	p("")
	p("| set | parse + check | compile | load | parse to loaded | maps | packet | ns | 1-element set (ns) | ÷ 1 | total ÷ 1 | error |")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, row := range rows {
		total := dur(row.Parse + row.Compile + row.Load)
		if len(row.Totals) > 1 {
			total = fmt.Sprintf("%s [%s–%s]", total, dur(slices.Min(row.Totals)), dur(slices.Max(row.Totals)))
		}
		if len(row.Cells) == 0 {
			p("| %s | %s | %s | %s | %s | %s | – | – | – | – | – | %s |", row.What, dur(row.Parse), dur(row.Compile), dur(row.Load), total, row.Maps, mdCell(row.Err))
			continue
		}
		for _, c := range row.Cells {
			big, one := c.net(implHdrlog, implEmpty, true), c.net(implSetOne, implEmpty, true)
			rawBig, rawOne := c.raw(implHdrlog, true), c.raw(implSetOne, true)
			p("| %s | %s | %s | %s | **%s** | %s | %s | %s | %s | **%s** | %s | %s |", row.What, dur(row.Parse), dur(row.Compile), dur(row.Load), total, row.Maps,
				c.Class, ns(big), ns(one), ratio(big, one), ratio(rawBig, rawOne), mdCell(row.Err))
		}
	}
	p("")
}

func (r *report) sets(p func(string, ...any)) {
	if r.SetCross == nil && r.SetScale == nil && r.TextCross == nil && r.TextScale == nil {
		return
	}
	p("## Sets as maps")
	p("")
	r.setsCrossover(p)
	r.setsScale(p)
	r.textSetsCrossover(p)
	r.textSetsScale(p)
}

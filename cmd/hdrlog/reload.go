package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// reloader replaces the running rules with those the rule files hold now
// (SIGHUP, --watch): read, check, compile, load (the verifier checks them),
// then swap each hook's program in place. The ring buffer, the reader and
// the outputs stay; on any error the old rules keep running. Each reload,
// done or refused, is a record in the stream and a notice:
//
//	{"time":…,"reload":"done","generation":2,"rules":5,"added":["a"],"changed":["b"],
//	 "removed":[{"rule":"c","hook":"xdp","events":12,"lost":0}],"seconds":0.042}
//	{"time":…,"reload":"failed","generation":3,"error":"a.rules:3:9: unknown field …"}
type reloader struct {
	in      ruleInput // the files, directories and -e rules to reload
	copts   compiler.Options
	lopts   runtime.LoadOptions
	w       *runtime.Watcher
	swaps   *runtime.Swaps
	records *runtime.Records
	notices io.Writer
	// settle is how long the old programs may still be running after the
	// swap (a run that started before it); their last events are read
	// after it, before the old rule set is let go.
	settle time.Duration

	mu      sync.Mutex
	stopped bool
	cur     *runtime.Collection
	// proc is the socket hooks a reload started, for rules that are the
	// first to use process fields (a tracker started with the run is the
	// run's; lopts.Proc is either's map).
	proc *runtime.ProcTracker
	// cg are the cgroup hooks' attachments (to cgPath), whose programs a
	// reload replaces in place.
	cg runtime.Attachments
	// sys are the system-call programs' links, of cur: a reload attaches
	// the new programs before it detaches these.
	sys            runtime.Attachments
	cgFlag, cgPath string
	defs           map[string]string // rule name -> definition, of cur
	gen            uint32
	counts         struct{ done, failed atomic.Uint64 } // read by the metrics
}

func newReloader(in ruleInput, copts compiler.Options, lopts runtime.LoadOptions, c *runtime.Collection, rs *ruleSources,
	w *runtime.Watcher, swaps *runtime.Swaps, records *runtime.Records, settle time.Duration) *reloader {
	return &reloader{in: in, copts: copts, lopts: lopts, w: w, swaps: swaps, records: records, notices: stderr,
		settle: settle, cur: c, defs: definitions(rs, c.Output)}
}

// current is the running collection.
func (r *reloader) current() *runtime.Collection {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// stop refuses further reloads (waiting for one under way) and returns
// the running collection.
func (r *reloader) stop() *runtime.Collection {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	return r.cur
}

// errCgroupHooksChanged refuses a reload that adds or removes a cgroup
// hook: they are attached at start, and replaced in place on reloads.
var errCgroupHooksChanged = errors.New("a reload replaces the programs of the cgroup hooks attached at start, and cannot add or remove one: restart hdrlog to change which cgroup hooks have rules (the running rules stay)")

// sameCgroup checks that the new rules have the running cgroup hooks,
// on the same cgroup.
func (r *reloader) sameCgroup(rs *ruleSources, out *compiler.Output) error {
	n := 0
	for _, p := range out.Programs {
		if p.Hook.IsCgroup() {
			n++
			found := false
			for _, a := range r.cg {
				found = found || a.Hook == p.Hook
			}
			if !found {
				return errCgroupHooksChanged
			}
		}
	}
	if n != len(r.cg) {
		return errCgroupHooksChanged
	}
	path, err := runtime.CgroupPath(r.cgFlag, rs.RuleSet)
	if err != nil {
		return err
	}
	if path != r.cgPath {
		return fmt.Errorf("the rules name cgroup %s, the running ones %s: restart hdrlog to change the cgroup (the running rules stay)", path, r.cgPath)
	}
	return nil
}

// closeProc detaches the socket hooks a reload started, if any.
func (r *reloader) closeProc() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.proc.Close()
	r.proc = nil
	return err
}

// closeSys detaches the system-call programs of the running rules.
func (r *reloader) closeSys() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.sys.Close()
	r.sys = nil
	return err
}

// reload does one reload; why says what asked for it.
func (r *reloader) reload(why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	r.gen++
	gen := r.gen
	start := time.Now()
	fmt.Fprintf(r.notices, "hdrlog: %s: reloading the rules\n", why)
	next, rs, changes, err := r.load(gen)
	if err != nil {
		r.failed(gen, err)
		return
	}
	if next == nil {
		// Only named sets' elements changed: their maps were updated in
		// place and the programs kept running.
		defs := definitions(rs, r.cur.Output)
		r.setsUpdated(gen, defs, changes, time.Since(start))
		r.defs = defs
		return
	}
	// The stream must know the new rule set before its first event.
	r.swaps.Adopt(next)
	// Raw tracepoints cannot swap a link's program: the new system-call
	// programs are attached beside the old ones, which run first and take
	// the calls they hooked (the arguments map is shared); once the old
	// ones are detached, the new ones take every call, those under way
	// included. A call meets the old rules or the new ones, never both,
	// never neither.
	sys, err := next.AttachSyscalls()
	if err != nil {
		r.retire(next)
		r.failed(gen, err)
		return
	}
	if err := r.w.Update(next.Programs); err != nil {
		// Some interfaces may have run the new programs for a moment.
		sys.Close()
		r.retire(next)
		r.failed(gen, err)
		return
	}
	if err := next.UpdateCgroup(r.cg); err != nil {
		sys.Close()
		r.retire(next)
		r.failed(gen, err)
		return
	}
	if err := r.sys.Close(); err != nil {
		fmt.Fprintf(r.notices, "hdrlog: %v\n", err)
	}
	if len(sys) > 0 && describeAttachments(sys) != describeAttachments(r.sys) {
		fmt.Fprintf(r.notices, "hdrlog: attached %s\n", describeAttachments(sys))
	}
	r.sys = sys
	old := r.cur
	gone := r.retire(old)
	r.cur = next
	defs := definitions(rs, next.Output)
	r.done(gen, defs, gone, time.Since(start))
	r.defs = defs
}

// load reads, checks, compiles and loads the rule files, sharing the
// running collection's ring buffer. When the rules differ from the running
// ones only in the elements of named sets, it updates the running set maps
// in place instead and returns no collection, but what changed.
func (r *reloader) load(gen uint32) (*runtime.Collection, *ruleSources, []runtime.SetChange, error) {
	copts := r.copts
	copts.Generation = gen
	rs, err := loadRuleInput(r.in)
	if err != nil {
		return nil, nil, nil, err
	}
	reportDiagnostics(r.notices, rs)
	if rs.RuleSet == nil {
		return nil, nil, nil, firstError(rs.Diags)
	}
	if len(r.cur.Output.Sets) > 0 {
		// Compiled as the running programs were (their generation too),
		// the rules may turn out to be the same programs.
		same, err := compiler.Compile(rs.RuleSet, r.cur.Output.Options)
		if err == nil && compiler.UpdatableInPlace(r.cur.Output, same) {
			changes, err := r.cur.UpdateSets(same.Sets)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("updating the set maps in place (some may hold the new elements): %w", err)
			}
			return nil, rs, changes, nil
		}
	}
	out, err := compiler.Compile(rs.RuleSet, copts)
	if err != nil {
		return nil, nil, nil, err
	}
	if hasCgroupRules(out) || len(r.cg) > 0 {
		if err := r.sameCgroup(rs, out); err != nil {
			return nil, nil, nil, err
		}
	}
	if out.NeedsProc() && r.lopts.Proc == nil {
		t, err := runtime.StartProcTracker()
		if err != nil {
			return nil, nil, nil, err
		}
		fmt.Fprintf(r.notices, "hdrlog: attached %s\n", t)
		r.proc, r.lopts.Proc = t, t.Map
	}
	lopts := r.lopts
	lopts.Events = r.cur.Events
	lopts.SyscallArgs = r.cur.SyscallArgs()
	c, err := runtime.Load(out, lopts)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, rs, nil, nil
}

// setsUpdated records a reload that updated set maps in place.
func (r *reloader) setsUpdated(gen uint32, defs map[string]string, changes []runtime.SetChange, took time.Duration) {
	r.counts.done.Add(1)
	rec := fmt.Sprintf(`"reload":"done","generation":%d,"rules":%d,"added":[],"changed":[],"removed":[],"sets":%s,"programs":"kept","seconds":%.3f`,
		gen, len(defs), jsonValue(changes), took.Seconds())
	r.records.Add(rec)
	var text []string
	for _, c := range changes {
		text = append(text, fmt.Sprintf("$%s +%d -%d", c.Set, c.Added, c.Removed))
	}
	fmt.Fprintf(r.notices, "hdrlog: reloaded in %v: %d rules, programs kept; sets updated in place: %s\n",
		took.Round(time.Millisecond), len(defs), listOrNone(text))
}

// firstError sums up rule-file errors in one line for the stream record:
// the first, and how many more (all are on standard error).
func firstError(ds rules.Diagnostics) error {
	for _, d := range ds {
		if d.Severity == rules.Error {
			if n := ds.ErrorCount() - 1; n > 0 {
				return fmt.Errorf("%s (and %s)", d.Error(), plural(n, "more error"))
			}
			return d
		}
	}
	return diagnosticsError(ds)
}

// retire waits for the last events of a replaced rule set, lets it go and
// returns the statistics of its rules.
func (r *reloader) retire(c *runtime.Collection) []runtime.RuleStats {
	time.Sleep(r.settle)
	st, _ := r.swaps.Retire(c)
	c.Close()
	return st
}

func (r *reloader) failed(gen uint32, err error) {
	r.counts.failed.Add(1)
	msg := oneLine(err.Error())
	r.records.Add(fmt.Sprintf(`"reload":"failed","generation":%d,"error":%s`, gen, jsonText(msg)))
	fmt.Fprintf(r.notices, "hdrlog: reload failed; the previous rules keep running: %s\n", msg)
}

func (r *reloader) done(gen uint32, defs map[string]string, old []runtime.RuleStats, took time.Duration) {
	r.counts.done.Add(1)
	var added, changed []string
	for name, def := range defs {
		switch prev, ok := r.defs[name]; {
		case !ok:
			added = append(added, name)
		case prev != def:
			changed = append(changed, name)
		}
	}
	sort.Strings(added)
	sort.Strings(changed)
	type removed struct {
		Rule   string `json:"rule"`
		Hook   string `json:"hook"`
		Events uint64 `json:"events"`
		Lost   uint64 `json:"lost"`
	}
	var gone []removed
	var goneText []string
	for _, s := range old {
		if _, ok := defs[s.Name]; !ok {
			gone = append(gone, removed{s.Name, s.Hook, s.Events, s.Lost})
			goneText = append(goneText, fmt.Sprintf("%s (%d events, %d lost)", s.Name, s.Events, s.Lost))
		}
	}
	rec := fmt.Sprintf(`"reload":"done","generation":%d,"rules":%d,"added":%s,"changed":%s,"removed":%s,"seconds":%.3f`,
		gen, len(defs), jsonValue(added), jsonValue(changed), jsonValue(gone), took.Seconds())
	r.records.Add(rec)
	fmt.Fprintf(r.notices, "hdrlog: reloaded in %v: %d rules; added: %s; changed: %s; removed: %s\n",
		took.Round(time.Millisecond), len(defs), listOrNone(added), listOrNone(changed), listOrNone(goneText))
}

// definitions fingerprints each rule, to tell a changed rule from a kept one.
func definitions(rs *ruleSources, out *compiler.Output) map[string]string {
	defs := map[string]string{}
	for i, r := range rs.RuleSet.Rules {
		var fields []string
		for _, f := range out.Schema.Rules[i].Fields {
			fields = append(fields, f.Name)
		}
		defs[r.Name] = fmt.Sprintf("%s|%s|%s|%v", r.Hook, rules.PredString(r.Match), strings.Join(fields, ","), r.Ports)
	}
	return defs
}

func jsonValue(v any) string {
	b, _ := json.Marshal(v)
	if string(b) == "null" {
		return "[]"
	}
	return string(b)
}

func jsonText(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func listOrNone(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	return strings.Join(ss, ", ")
}

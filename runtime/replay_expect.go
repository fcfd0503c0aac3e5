package runtime

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Expectation compares a replay's JSON lines with an expected file (the
// output of an earlier replay, reviewed), frame by frame, as the lines come:
// it holds one frame of each side, never the whole files. Events of a frame
// are paired by rule, in order; paired events are compared member by member.
// Both files must be in frame order, as a replay writes them.
type Expectation struct {
	want      *bufio.Reader
	wantLine  int
	wantFrame int            // frame of the last expected event read
	peeked    *expectedEvent // next expected event, read ahead

	frame int // frame of the events in got
	got   []event

	MaxShown  int // differing frames described in Report (default 10)
	Compared  int // events compared (pairs, plus unpaired events)
	Differing int // frames that differ
	shown     []string
}

type event struct {
	frame   int
	rule    string
	keys    []string // member names in order
	members map[string]any
	raw     string
}

type expectedEvent struct {
	event
	line int
}

// NewExpectation compares with the expected JSON lines read from r.
func NewExpectation(r io.Reader) *Expectation {
	return &Expectation{want: bufio.NewReaderSize(r, 1<<16), MaxShown: 10}
}

// Write takes one JSON line of output (as Replay writes them).
func (e *Expectation) Write(line []byte) (int, error) {
	ev, err := parseEvent(bytes.TrimSpace(line))
	if err != nil {
		return 0, fmt.Errorf("replay output: %w", err)
	}
	if ev.frame != e.frame {
		if err := e.flush(); err != nil {
			return 0, err
		}
		e.frame = ev.frame
	}
	e.got = append(e.got, ev)
	return len(line), nil
}

// Finish compares what is left and reports whether everything matched.
func (e *Expectation) Finish() (bool, error) {
	if err := e.flush(); err != nil {
		return false, err
	}
	for {
		w, err := e.peek()
		if err != nil {
			return false, err
		}
		if w == nil {
			break
		}
		if err := e.compareFrame(w.frame, nil); err != nil {
			return false, err
		}
	}
	return e.Differing == 0, nil
}

// Report describes the first differing frames and the counts.
func (e *Expectation) Report() string {
	var b strings.Builder
	for _, s := range e.shown {
		b.WriteString(s)
	}
	if e.Differing > len(e.shown) {
		fmt.Fprintf(&b, "... and %d more differing frames\n", e.Differing-len(e.shown))
	}
	if e.Differing == 1 {
		fmt.Fprintf(&b, "1 frame differs (%d events compared)\n", e.Compared)
	} else {
		fmt.Fprintf(&b, "%d frames differ (%d events compared)\n", e.Differing, e.Compared)
	}
	return b.String()
}

// flush compares the buffered frame, after every expected frame before it.
func (e *Expectation) flush() error {
	if len(e.got) == 0 {
		return nil
	}
	for {
		w, err := e.peek()
		if err != nil {
			return err
		}
		if w == nil || w.frame >= e.frame {
			break
		}
		if err := e.compareFrame(w.frame, nil); err != nil {
			return err
		}
	}
	err := e.compareFrame(e.frame, e.got)
	e.got = e.got[:0]
	return err
}

// compareFrame compares got with the expected events of frame f.
func (e *Expectation) compareFrame(f int, got []event) error {
	var want []event
	for {
		w, err := e.peek()
		if err != nil {
			return err
		}
		if w == nil || w.frame != f {
			break
		}
		want = append(want, w.event)
		e.peeked = nil
	}
	var diffs []string
	used := make([]bool, len(want))
	for _, g := range got {
		j := -1
		for i, w := range want {
			if !used[i] && w.rule == g.rule {
				j = i
				break
			}
		}
		e.Compared++
		if j < 0 {
			diffs = append(diffs, fmt.Sprintf("  rule %s: unexpected event %s\n", g.rule, g.raw))
			continue
		}
		used[j] = true
		diffs = append(diffs, memberDiffs(g, want[j])...)
	}
	for i, w := range want {
		if !used[i] {
			e.Compared++
			diffs = append(diffs, fmt.Sprintf("  rule %s: missing event %s\n", w.rule, w.raw))
		}
	}
	if len(diffs) > 0 {
		e.Differing++
		if len(e.shown) < e.MaxShown {
			e.shown = append(e.shown, fmt.Sprintf("frame %d:\n%s", f, strings.Join(diffs, "")))
		}
	}
	return nil
}

func memberDiffs(got, want event) []string {
	var out []string
	for _, k := range want.keys {
		gv, ok := got.members[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("  rule %s: %s: missing, want %s\n", got.rule, k, jsonText(want.members[k])))
		case !reflect.DeepEqual(gv, want.members[k]):
			out = append(out, fmt.Sprintf("  rule %s: %s: got %s, want %s\n", got.rule, k, jsonText(gv), jsonText(want.members[k])))
		}
	}
	for _, k := range got.keys {
		if _, ok := want.members[k]; !ok {
			out = append(out, fmt.Sprintf("  rule %s: %s: got %s, not expected\n", got.rule, k, jsonText(got.members[k])))
		}
	}
	return out
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// peek returns the next expected event without consuming it (nil at the end).
func (e *Expectation) peek() (*expectedEvent, error) {
	if e.peeked != nil {
		return e.peeked, nil
	}
	for {
		line, err := e.want.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			return nil, nil
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("expected events: %w", err)
		}
		e.wantLine++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		ev, perr := parseEvent(line)
		if perr != nil {
			return nil, fmt.Errorf("expected events, line %d: %w", e.wantLine, perr)
		}
		if ev.frame < e.wantFrame {
			return nil, fmt.Errorf("expected events, line %d: frame %d after frame %d: the file is not in frame order", e.wantLine, ev.frame, e.wantFrame)
		}
		e.wantFrame = ev.frame
		e.peeked = &expectedEvent{event: ev, line: e.wantLine}
		return e.peeked, nil
	}
}

func parseEvent(line []byte) (event, error) {
	ev := event{members: map[string]any{}, raw: string(line)}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ev, fmt.Errorf("not a JSON object: %.60s", line)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ev, fmt.Errorf("bad JSON: %v: %.60s", err, line)
		}
		k, _ := t.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return ev, fmt.Errorf("bad JSON: %v: %.60s", err, line)
		}
		if _, dup := ev.members[k]; !dup {
			ev.keys = append(ev.keys, k)
		}
		ev.members[k] = v
	}
	n, ok := ev.members["frame"].(json.Number)
	f, err := n.Int64()
	if !ok || err != nil || f < 1 {
		return ev, fmt.Errorf("event has no frame number: %.60s", line)
	}
	ev.frame = int(f)
	ev.rule, _ = ev.members["rule"].(string)
	return ev, nil
}

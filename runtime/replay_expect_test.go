package runtime_test

import (
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/runtime"
)

func TestExpectation(t *testing.T) {
	const want = `{"rule":"a","frame":1,"ip.src":"10.0.0.1"}
{"rule":"b","frame":1,"tcp.dstport":80}
{"rule":"a","frame":3,"ip.src":"10.0.0.3"}
{"rule":"a","frame":4,"ip.src":"10.0.0.4"}
{"rule":"a","frame":7,"ip.src":"10.0.0.7"}
`
	for _, c := range []struct {
		name, got string
		ok        bool
		report    []string
	}{
		{name: "same", got: want, ok: true},
		{name: "same, members in another order", ok: true,
			got: strings.Replace(want, `{"rule":"a","frame":1,"ip.src":"10.0.0.1"}`, `{"frame":1,"ip.src":"10.0.0.1","rule":"a"}`, 1)},
		{name: "value", got: strings.Replace(want, "10.0.0.3", "10.9.9.9", 1),
			report: []string{"frame 3:\n  rule a: ip.src: got \"10.9.9.9\", want \"10.0.0.3\"\n", "1 frame differs (5 events compared)"}},
		{name: "missing frames", got: strings.Join(strings.Split(want, "\n")[:2], "\n"),
			report: []string{"frame 3:\n  rule a: missing event", "frame 4:\n  rule a: missing event", "frame 7:\n", "3 frames differ"}},
		{name: "unexpected event", got: want + `{"rule":"c","frame":9,"x":null}` + "\n",
			report: []string{"frame 9:\n  rule c: unexpected event {\"rule\":\"c\",\"frame\":9,\"x\":null}\n"}},
		{name: "extra and missing members", got: strings.Replace(want, `"tcp.dstport":80`, `"tcp.srcport":80`, 1),
			report: []string{"rule b: tcp.dstport: missing, want 80\n", "rule b: tcp.srcport: got 80, not expected\n"}},
		{name: "number vs string", got: strings.Replace(want, `"tcp.dstport":80`, `"tcp.dstport":"80"`, 1),
			report: []string{`rule b: tcp.dstport: got "80", want 80`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := runtime.NewExpectation(strings.NewReader(want))
			for _, line := range strings.SplitAfter(c.got, "\n") {
				if strings.TrimSpace(line) == "" {
					continue
				}
				if _, err := e.Write([]byte(line)); err != nil {
					t.Fatal(err)
				}
			}
			ok, err := e.Finish()
			if err != nil {
				t.Fatal(err)
			}
			if ok != (c.report == nil) {
				t.Errorf("ok = %v\n%s", ok, e.Report())
			}
			for _, r := range c.report {
				if !strings.Contains(e.Report(), r) {
					t.Errorf("report lacks %q:\n%s", r, e.Report())
				}
			}
		})
	}
}

func TestExpectationErrors(t *testing.T) {
	e := runtime.NewExpectation(strings.NewReader(`{"rule":"a","frame":2}` + "\n" + `{"rule":"a","frame":1}` + "\n"))
	e.Write([]byte(`{"rule":"a","frame":5}`))
	if _, err := e.Finish(); err == nil || !strings.Contains(err.Error(), "not in frame order") {
		t.Errorf("out of order: %v", err)
	}
	e = runtime.NewExpectation(strings.NewReader(`{"rule":"a"}` + "\n"))
	if _, err := e.Finish(); err == nil || !strings.Contains(err.Error(), "line 1: event has no frame number") {
		t.Errorf("no frame: %v", err)
	}
}

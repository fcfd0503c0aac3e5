package runtime_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// Two rule sets share one ring buffer: the stream decodes each event with
// the schema of its generation, counts an event of a rule set it was not
// given as not written (with a notice), keeps counting a rule that both
// sets have in one row, and hands back a retired set's statistics.
func TestStreamGenerations(t *testing.T) {
	old := loadDSL(t, `rule kept { hook xdp match udp log udp.dstport }
rule gone { hook xdp match udp.dstport == 53 log udp.srcport }`, 0)
	next, err := runtime.Load(compileDSL(t, `rule kept { hook xdp match udp log udp.dstport, udp.srcport }`, compiler.Options{Generation: 1}),
		runtime.LoadOptions{Events: old.Events})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	frame := testpkt.New().Eth("02:00:00:00:00:01", "02:00:00:00:00:02").IPv4("10.0.0.1", "10.0.0.2").UDP(4000, 53).Bytes()

	swaps := runtime.NewSwaps()
	s := startStream(t, old, runtime.StreamOptions{Swaps: swaps})
	run := func(c *runtime.Collection) {
		t.Helper()
		if err := c.Run(rules.HookXDP, frame); err != nil {
			t.Fatal(err)
		}
	}
	run(old)  // kept and gone, generation 0
	run(next) // kept, generation 1, before the stream was told of it
	time.Sleep(30 * time.Millisecond)
	swaps.Adopt(next)
	run(next)
	s.waitFor(t, "the events", 5*time.Second, func(objs []map[string]any) bool { return len(objs) == 3 })
	retired, err := swaps.Retire(old)
	if err != nil {
		t.Fatal(err)
	}
	st := s.stop(t)

	objs := s.sink.objects(t)
	if objs[0]["rule"] != "kept" || objs[1]["rule"] != "gone" || objs[2]["rule"] != "kept" {
		t.Fatalf("events: %v", objs)
	}
	if _, ok := objs[0]["udp.srcport"]; ok {
		t.Errorf("an event of the old rule set was decoded with the new schema: %v", objs[0])
	}
	if objs[2]["udp.srcport"] != float64(4000) {
		t.Errorf("an event of the new rule set was not decoded with its schema: %v", objs[2])
	}
	if st.DecodeErrors != 1 || !strings.Contains(s.notices.String(), "belongs to rule set 1, which the stream does not have") {
		t.Errorf("decode errors %d, notices %q; want the event of the unknown rule set counted", st.DecodeErrors, s.notices)
	}
	if len(st.Rules) != 2 || st.Rules[0].Name != "kept" || st.Rules[0].Events != 2 || st.Rules[1].Name != "gone" || st.Rules[1].Events != 1 {
		t.Errorf("stats %+v; want kept 2 events (one row over both sets), gone 1", st.Rules)
	}
	if len(retired) != 2 || retired[1].Name != "gone" || retired[1].Events != 1 {
		t.Errorf("retired stats %+v", retired)
	}
}

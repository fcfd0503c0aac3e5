package runtime_test

import (
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
)

// TestKernelVsReferencePayload is the differential test aimed at byte
// fields: every rule tests tcp.payload, udp.payload or frame (slices in
// every form, contains, matches, masks, len()) and often logs a payload;
// the frames carry payloads of every length around the window the kernel
// reads, with a marker at its edges, IP and UDP length fields that lie,
// VLAN tags, and cuts.

var payloadCases = flag.Int("diff.payload.cases", 200, "cases of TestKernelVsReferencePayload")

func TestKernelVsReferencePayload(t *testing.T) {
	kerneltest.Require(t)
	n := uint64(*payloadCases)
	if testing.Short() {
		n = min(n, 40)
	}
	for seed := *diffSeed; seed < *diffSeed+n; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0x7061796c6f6164))
		rulesIn, framesIn := make([]byte, 512), make([]byte, 512)
		for i := range rulesIn {
			rulesIn[i] = byte(rng.Uint32())
		}
		for i := range framesIn {
			framesIn[i] = byte(rng.Uint32())
		}
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { payloadCase(t, rulesIn, framesIn) })
	}
}

func payloadCase(t *testing.T, rulesIn, framesIn []byte) {
	rc := &chooser{data: rulesIn}
	file := &rules.File{Name: "gen.rules"}
	for i, n := 0, 1+rc.intn(4); i < n; i++ {
		d := &rules.RuleDecl{Name: fmt.Sprintf("p%d", i), HasLog: true, Hook: genHook(rc), Match: genPayloadMatch(rc, 2)}
		d.Log = []rules.FieldName{{Name: "frame.len"}}
		if rc.chance(2, 3) {
			d.Log = append(d.Log, rules.FieldName{Name: pick(rc, "tcp.payload", "udp.payload")})
			if rc.chance(1, 3) {
				d.MaxLen = []rules.MaxLenDecl{{Field: d.Log[1], Value: &rules.Literal{Kind: rules.LitNumber, Text: fmt.Sprint(pick(rc, 1, 7, 8, 9, 300, rules.MaxPayloadLog))}}}
			}
		}
		file.Rules = append(file.Rules, d)
	}
	rs, diags := rules.Check(file)
	if diags.HasErrors() {
		t.Fatalf("generated rules do not check: %v\n%s", diags.Error(), dslString(file))
	}
	fc := &chooser{data: framesIn}
	var frames [][]byte
	for range framesPerCase {
		frames = append(frames, genPayloadFrame(fc))
	}
	d, known, err := diffFrames(rs, frames)
	for _, id := range known {
		t.Logf("known kernel divergence %s (kernel-divergences.tsv)", id)
	}
	if err == nil && d == "" {
		return
	}
	var hexes []string
	for _, fr := range frames {
		hexes = append(hexes, hex.EncodeToString(fr))
	}
	if err != nil {
		d = err.Error()
	} else {
		d = "kernel and reference disagree\n" + d
	}
	t.Fatalf("%s\nrules:\n%s\nframes (hex, one per line):\n%s", d, dslString(file), strings.Join(hexes, "\n"))
}

// genPayloadMatch combines tests of byte fields.
func genPayloadMatch(c *chooser, depth int) rules.Expr {
	if depth > 0 {
		switch c.intn(5) {
		case 0:
			return &rules.LogicalExpr{Op: rules.OpAnd, Left: genPayloadMatch(c, depth-1), Right: genPayloadMatch(c, depth-1)}
		case 1:
			return &rules.LogicalExpr{Op: rules.OpOr, Left: genPayloadMatch(c, depth-1), Right: genPayloadMatch(c, depth-1)}
		case 2:
			return &rules.NotExpr{X: genPayloadMatch(c, depth-1)}
		}
	}
	return genBytesExpr(c, rules.FieldName{Name: pick(c, "tcp.payload", "tcp.payload", "udp.payload", "frame")})
}

// genPayloadFrame builds a TCP or UDP frame over IPv4 or IPv6 whose
// payload straddles the window, sometimes with a VLAN tag, length fields
// that lie, or cut short.
func genPayloadFrame(c *chooser) []byte {
	f := testpkt.New()
	if c.chance(1, 4) {
		f.VLAN(testpkt.TPID8021Q, 0, false, pick(c, genVIDs...))
	}
	pl := genMarkPayload(c)
	if c.chance(1, 6) {
		pl = pl[:c.intn(4)]
	}
	if c.chance(1, 2) {
		ip := f.IPv4("10.0.0.1", "10.0.0.2")
		if c.chance(1, 6) {
			ip.TotalLength(pick(c, 0, uint16(20+c.intn(60)), uint16(40+len(pl)-c.intn(8))))
		}
	} else {
		ip := f.IPv6("2001:db8::1", "2001:db8::2")
		if c.chance(1, 6) {
			ip.PayloadLength(pick(c, 0, uint16(c.intn(60)), uint16(20+len(pl)-c.intn(8))))
		}
	}
	if c.chance(1, 2) {
		t := f.TCP(40000, pick(c, genPorts...)).Flags(pick(c, testpkt.ACK|testpkt.PSH, testpkt.ACK, testpkt.RST|testpkt.ACK))
		if c.chance(1, 4) {
			t.Options(c.bytes(4 * (1 + c.intn(3))))
		}
	} else {
		u := f.UDP(40000, pick(c, genPorts...))
		if c.chance(1, 5) {
			u.Length(pick(c, 0, uint16(c.intn(16)), uint16(8+len(pl)-c.intn(8)), uint16(8+len(pl)+c.intn(8))))
		}
	}
	f.Payload(pl)
	b := f.Bytes()
	if c.chance(1, 6) {
		b = testpkt.Truncate(b, c.intn(len(b)+1))
	}
	return b
}

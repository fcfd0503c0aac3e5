package rules

import (
	"strconv"
	"time"
)

// High volume: a rule may count packets per key in the kernel instead of
// logging each one (count), log a sample of its matches (sample), or at
// most a rate of them (limit). docs/volume.md says what each costs and how
// every match is accounted for.

// Aggregate is a counting rule's `count by … every …`. The key fields are
// the rule's Log too, so that their layout, decoding and rendering are the
// logged fields'.
type Aggregate struct {
	Every time.Duration
	// SumLen adds frame.len per key ("bytes").
	SumLen bool
	// Top keeps the Top keys with the highest counts per interval (0: all).
	Top int
}

// Sampling is `sample 1/N [by flow]`: a match is logged with probability
// 1/N, at random, or by a hash of its flow (the addresses and ports, the
// same both ways), so that a flow is logged whole or not at all.
type Sampling struct {
	N      uint32
	ByFlow bool
}

// RateLimit is `limit R/s [burst B]`: a token bucket of B tokens filled at
// R per second, shared by the CPUs; a match without a token is counted,
// not logged.
type RateLimit struct {
	PerSecond uint32
	Burst     uint32
}

// Bounds of the volume statements.
const (
	MaxCountKeys   = 8
	MinCountEvery  = 100 * time.Millisecond
	MaxCountEvery  = 24 * time.Hour
	MaxCountTop    = 1 << 20
	MaxSampleN     = 1 << 30
	MaxLimitRate   = 1 << 30
	MaxLimitBurst  = 1 << 30
	limitExample   = "limit 100/s burst 20"
	sampleExample  = "sample 1/100 by flow"
	countKeyStruct = "counted"
)

func (c *checker) volume(r *Rule, d *RuleDecl) {
	if d.Count != nil {
		c.count(r, d.Count)
	}
	if d.Sample != nil {
		if d.Count != nil {
			c.errorf(d.Sample.Span, "a counting rule counts every match; sample a rule that logs", "sample applies to a rule that logs, not to one that counts")
		} else {
			r.Sample = c.sample(d.Sample)
		}
	}
	if d.Limit != nil {
		if d.Count != nil {
			c.errorf(d.Limit.Span, "a counting rule writes one line per key and interval; limit a rule that logs", "limit applies to a rule that logs, not to one that counts")
		} else {
			r.Limit = c.limit(d.Limit)
		}
	}
}

func (c *checker) count(r *Rule, cd *CountDecl) {
	agg := &Aggregate{}
	if len(cd.By) > MaxCountKeys {
		c.errorf(cd.Span, "count by fewer fields, or split the rule", "count by %d fields; at most %d are allowed", len(cd.By), MaxCountKeys)
	}
	keys := c.logFields(cd.By, countKeyStruct)
	for _, k := range keys {
		if k.Ref.Field.Type == TypeString {
			c.errorf(k.Span, "count by fixed-size fields (addresses, ports, numbers); log the string instead", "%s is a string: counting by strings is not offered", k.Name)
		}
		if k.Ref.Field.Header.IsSyscall() {
			c.errorf(k.Span, "count packets: count rules run at the packet hooks", "count by %s: system-call fields cannot be counted", k.Name)
		}
	}
	if c.hook.IsSyscall() {
		c.errorf(cd.Span, "count packets at xdp or tc", "count applies to packet hooks, not to %s", c.hook)
	}
	r.Log = keys
	every, err := time.ParseDuration(cd.Every.Text)
	switch {
	case cd.Every.Kind != LitNumber || err != nil:
		c.errorf(cd.Every.Span, "a duration is a number and a unit, e.g. 10s, 1m, 500ms", "invalid duration %s", quoteLit(cd.Every))
	case every < MinCountEvery || every > MaxCountEvery:
		c.errorf(cd.Every.Span, "count over 100ms to 24h", "interval %s is out of range", cd.Every.Text)
	default:
		agg.Every = every
	}
	if cd.Sum != nil {
		if cd.Sum.Name != "frame.len" || cd.Sum.Func != "" || cd.Sum.Slice != nil {
			c.errorf(cd.Sum.Span, "write `sum frame.len`: the bytes of the frames counted", "sum applies to frame.len only, not %s", cd.Sum.Name)
		} else {
			agg.SumLen = true
		}
	}
	if cd.Top != nil {
		n, err := strconv.ParseUint(cd.Top.Text, 10, 32)
		if cd.Top.Kind != LitNumber || err != nil || n < 1 || n > MaxCountTop {
			c.errorf(cd.Top.Span, "top is a number of keys, e.g. top 10", "invalid top %s (1 to %d)", quoteLit(cd.Top), MaxCountTop)
		} else {
			agg.Top = int(n)
		}
	}
	r.Count = agg
}

func (c *checker) sample(sd *SampleDecl) *Sampling {
	if sd.One.Text != "1" {
		c.errorf(sd.One.Span, "a sampling rate is written 1/N, e.g. "+sampleExample, "sample %s/%s: the rate must be 1/N", sd.One.Text, sd.N.Text)
		return nil
	}
	n, err := strconv.ParseUint(sd.N.Text, 10, 32)
	if sd.N.Kind != LitNumber || err != nil || n < 1 || n > MaxSampleN {
		c.errorf(sd.N.Span, "N is a whole number from 1 to "+strconv.Itoa(MaxSampleN), "invalid sampling rate 1/%s", sd.N.Text)
		return nil
	}
	s := &Sampling{N: uint32(n)}
	if sd.By != nil {
		if sd.By.Text != "flow" {
			c.errorf(sd.By.Span, "write `by flow` to keep or drop whole flows, or nothing to sample each match at random", "unknown sampling key %s", quoteLit(sd.By))
			return nil
		}
		if c.hook.IsSyscall() {
			c.errorf(sd.By.Span, "sample system calls at random", "sampling by flow applies to packet hooks")
			return nil
		}
		s.ByFlow = true
	}
	return s
}

func (c *checker) limit(ld *LimitDecl) *RateLimit {
	rate, err := strconv.ParseUint(ld.Rate.Text, 10, 32)
	if ld.Rate.Kind != LitNumber || err != nil || rate < 1 || rate > MaxLimitRate {
		c.errorf(ld.Rate.Span, "a rate is a whole number of events per second, e.g. "+limitExample, "invalid rate %s", quoteLit(ld.Rate))
		return nil
	}
	if ld.Unit.Text != "s" {
		c.errorf(ld.Unit.Span, "rates are per second: write R/s, e.g. "+limitExample, "unknown rate unit %s", quoteLit(ld.Unit))
		return nil
	}
	l := &RateLimit{PerSecond: uint32(rate), Burst: uint32(rate)}
	if ld.Burst != nil {
		b, err := strconv.ParseUint(ld.Burst.Text, 10, 32)
		if ld.Burst.Kind != LitNumber || err != nil || b < 1 || b > MaxLimitBurst {
			c.errorf(ld.Burst.Span, "a burst is a whole number of events, at least 1", "invalid burst %s", quoteLit(ld.Burst))
			return nil
		}
		l.Burst = uint32(b)
	}
	return l
}

// FlowFields are the fields FlowHash reads: a packet's addresses (4-byte
// words, as they sit in the packet, read in the host's byte order) and
// ports (2 bytes, likewise), all XORed, so that both directions of a flow
// hash alike; absent fields count as zeros.
var FlowFields = []string{"ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport"}

// FlowHash is the hash of `sample 1/N by flow`, from the XOR of the address
// words and of the ports (FlowFields): a match is kept when it is 0 modulo N.
func FlowHash(addrWords uint32, ports uint16) uint32 {
	return Mix32(addrWords ^ uint32(ports)<<16)
}

// Mix32 is a 32-bit finaliser (lowbias32): every input bit moves every
// output bit.
func Mix32(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x7feb352d
	h ^= h >> 15
	h *= 0x846ca68b
	h ^= h >> 16
	return h
}

// ReplayDraw stands in a replay (hdrlog test) for the random number a
// `sample 1/N` draws live, so that a replay through the kernel and one
// through the reference evaluator sample the same frames.
func ReplayDraw(frame uint64, rule int) uint32 {
	return Mix32(uint32(frame) ^ uint32(frame>>32)*0x9e3779b9 ^ uint32(rule)*0x85ebca6b)
}

// LimitParams are a limit's emission interval T = 1 s / R and tolerance
// (B-1)·T, in nanoseconds, for the generic cell rate algorithm.
func LimitParams(l *RateLimit) (t, tau int64) {
	t = int64(1e9) / int64(l.PerSecond)
	return t, t * int64(l.Burst-1)
}

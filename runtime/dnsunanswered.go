package runtime

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/cilium/ebpf"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/rules"
)

// Unanswered DNS queries, as Zeek's dns.log reports them: a query that
// waited in dns_tx longer than rules.DNSTxTimeoutNanos without its response
// is reported once, by a sweep of the map from user space (the kernel
// only sees a query's fate when its response comes). The sweep marks the
// entry answered-for-nothing (as the kernel does when a late response finds
// it), so it is reported once and never paired, and counts it as a
// timeout.

// UnansweredDNS is a query no response answered in time.
type UnansweredDNS struct {
	Client, Server netip.AddrPort
	TCP            bool
	ID             uint16
	Waited         time.Duration // from the query to the sweep
}

// dns_tx key and value layouts (compiler/tx.go txKey, compiler/l7_dnstx.go
// txDNSFlow).
const (
	dnsKeySize   = 48
	dnsValueSize = 32
)

// SweepDNS reports, through emit, the queries waiting in dns_tx since
// before now less rules.DNSTxTimeoutNanos (now in the programs' clock:
// CLOCK_MONOTONIC live, the capture's in a test run), and marks them so
// that they are reported once. It returns how many it reported.
func (c *Collection) SweepDNS(now uint64, emit func(UnansweredDNS)) (int, error) {
	m, ok := c.coll.Maps[compiler.DNSTxMap]
	if !ok {
		return 0, nil
	}
	var (
		key, val []byte
		stale    [][2][]byte
	)
	it := m.Iterate()
	for it.Next(&key, &val) {
		if len(key) != dnsKeySize || len(val) != dnsValueSize {
			return 0, errors.New("dns_tx: unexpected key or value size")
		}
		head, tail, side := ByteOrder.Uint32(val), ByteOrder.Uint32(val[4:]), ByteOrder.Uint32(val[8:])
		at := ByteOrder.Uint64(val[16:])
		if head == tail || side == 0 || int64(now-at) <= rules.DNSTxTimeoutNanos {
			continue
		}
		stale = append(stale, [2][]byte{append([]byte(nil), key...), append([]byte(nil), val...)})
	}
	if err := it.Err(); err != nil {
		return 0, err
	}
	n := 0
	for _, kv := range stale {
		k, v := kv[0], kv[1]
		// Mark it first: a response may come meanwhile; only the sweep
		// that marks it reports it.
		mark := append([]byte(nil), v...)
		ByteOrder.PutUint32(mark, ByteOrder.Uint32(v[4:]))
		ByteOrder.PutUint32(mark[8:], 0)
		if err := m.Update(k, mark, ebpf.UpdateExist); err != nil {
			continue // evicted meanwhile: counted as evicted
		}
		c.unanswered.Add(1)
		n++
		if emit != nil {
			emit(unansweredOf(k, v, now))
		}
	}
	return n, nil
}

// unansweredOf decodes a dns_tx entry: endpoint A or B sent the query
// (side 1 or 2).
func unansweredOf(k, v []byte, now uint64) UnansweredDNS {
	fam := ByteOrder.Uint16(k[2:])
	id := ByteOrder.Uint32(k[4:])
	addr := func(b []byte) netip.Addr {
		if fam == 4 {
			return netip.AddrFrom4([4]byte(b[:4]))
		}
		return netip.AddrFrom16([16]byte(b[:16]))
	}
	a := netip.AddrPortFrom(addr(k[8:24]), ByteOrder.Uint16(k[40:]))
	b := netip.AddrPortFrom(addr(k[24:40]), ByteOrder.Uint16(k[42:]))
	u := UnansweredDNS{Client: a, Server: b, TCP: id>>16 != 0, ID: uint16(id), Waited: time.Duration(now - ByteOrder.Uint64(v[16:]))}
	if ByteOrder.Uint32(v[8:]) == 2 {
		u.Client, u.Server = b, a
	}
	return u
}

// AppendUnansweredDNS appends the record's fields (no braces):
// "unanswered":"dns","client":…
func AppendUnansweredDNS(buf []byte, u UnansweredDNS) []byte {
	buf = append(buf, `"unanswered":"dns","client":`...)
	buf = strconv.AppendQuote(buf, u.Client.String())
	buf = append(buf, `,"server":`...)
	buf = strconv.AppendQuote(buf, u.Server.String())
	transport := "udp"
	if u.TCP {
		transport = "tcp"
	}
	buf = append(buf, `,"transport":"`...)
	buf = append(buf, transport...)
	buf = append(buf, `","dns.id":"0x`...)
	var id [2]byte
	binary.BigEndian.PutUint16(id[:], u.ID)
	const hex = "0123456789abcdef"
	for _, c := range id {
		buf = append(buf, hex[c>>4], hex[c&15])
	}
	buf = append(buf, `","waited":`...)
	return rules.FormatMicros(buf, uint64(u.Waited/time.Microsecond))
}

package compiler_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
)

// l7MapDump returns every CPU's bytes of every entry of the l7 map the
// hook's program uses, as anyone who can read the map would see them.
func l7MapDump(t *testing.T, k *ktLoaded, h ktHook) []byte {
	t.Helper()
	info, err := k.coll.Programs[h.Hook].Info()
	if err != nil {
		t.Fatal(err)
	}
	ids, ok := info.MapIDs()
	if !ok {
		t.Fatal("program info has no map IDs")
	}
	var dump []byte
	found := false
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			t.Fatal(err)
		}
		mi, err := m.Info()
		if err != nil || mi.Name != compiler.L7Map {
			m.Close()
			continue
		}
		found = true
		var key uint32
		var per [][]byte
		it := m.Iterate()
		for it.Next(&key, &per) {
			for _, v := range per {
				dump = append(dump, v...)
			}
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	if !found {
		t.Fatalf("%s: no %s map", h.Hook, compiler.L7Map)
	}
	return dump
}

// TestKernelL7WindowCleared: after a segment, the l7 map holds none of its
// payload bytes (issue 18): a planted credential, redacted in the event,
// is not in a dump of the map either, whether a rule logs the header or
// not; and HTTP pipelining and a held ClientHello still work (their own
// tests).
func TestKernelL7WindowCleared(t *testing.T) {
	kerneltest.Require(t)
	const secret = "PLANTED-S3CRET-7f1c"
	k := l7Load(t, "l7_clear", []l7Rule{
		{Name: "auth", Match: "http.request", Log: []string{"http.host", "http.authorization", "http.request.uri"}},
		{Name: "host", Match: "http.host", Log: []string{"http.host"}},
	}, ktHooks)
	frames := [][]byte{
		tcpFrame(40000, 80, []byte("GET /?token="+secret+" HTTP/1.1\r\nHost: a.test\r\nAuthorization: Bearer "+secret+"\r\nCookie: s="+secret+"\r\n\r\n")),
		tcpFrame(40000, 8080, []byte("POST /x HTTP/1.1\r\nHost: b.test\r\nX-Api-Key: "+secret+"\r\n\r\nGET /y HTTP/1.1\r\nAuthorization: "+secret+"\r\n\r\n")),
		tcpFrame(40000, 80, append([]byte("GET / HTTP/1.1\r\nHost: c.test\rAuthorization: Basic "+secret+"\r\n"), bytes.Repeat([]byte("x"), 3000)...)),
	}
	for _, h := range ktHooks {
		for i, fr := range frames {
			evs, err := k.run(h, fr)
			if err != nil {
				t.Fatalf("%s frame %d: %v", h.Hook, i, err)
			}
			if len(evs["auth"]) == 0 {
				t.Fatalf("%s frame %d: no event of rule auth: %v", h.Hook, i, evs)
			}
			for _, ev := range append(evs["auth"], evs["host"]...) {
				if strings.Contains(ev.Line, secret) {
					t.Errorf("%s frame %d: the planted secret is in an event: %s", h.Hook, i, ev.Line)
				}
			}
			dump := l7MapDump(t, k, h)
			if at := bytes.Index(dump, []byte(secret)); at >= 0 {
				t.Errorf("%s frame %d: the l7 map still holds the planted secret after the run (at %d of its dump)", h.Hook, i, at)
			}
			if bytes.Contains(dump, []byte("Host: ")) {
				t.Errorf("%s frame %d: the l7 map still holds payload bytes after the run", h.Hook, i)
			}
		}
	}
}

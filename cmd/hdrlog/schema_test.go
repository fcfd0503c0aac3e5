package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// --schema ecs: Elastic Common Schema names, in the forms ECS wants (MACs
// with dashes, DNS types by name, ids in decimal), unmapped fields under
// hdrlog., absent ones left out, network.* derived.
func TestSchemaECS(t *testing.T) {
	dns := capturePath(t, "tcpdump/dns_udp.pcap")
	code, out, errOut := hdrlog(t, ".", "test", "--no-kernel", "-r", dns, "--schema", "ecs",
		"-e", "dns.flags.response == 0", "--log", "eth.src,ip.src,ipv6.src,udp.srcport,udp.dstport,dns.id,dns.qry.name,dns.qry.type,dns.qry.class,dns.flags.response,ip.ttl")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := map[string]any{
		"@timestamp": "2020-06-10T09:19:54.740079000Z", "event.kind": "event", "event.category": "network", "event.type": "info",
		"event.module": "hdrlog", "event.dataset": "hdrlog.events", "rule.name": "e1", "network.direction": "ingress",
		"hdrlog.hook": "tc ingress", "hdrlog.frame": 1.0, "source.mac": "00-11-22-33-44-55", "source.ip": "192.168.1.11",
		"source.port": 43966.0, "destination.port": 53.0, "dns.id": "22836", "dns.question.name": "www.tcpdump.org",
		"dns.question.type": "A", "dns.question.class": "IN", "dns.type": "query", "hdrlog.ip.ttl": 64.0,
		"network.transport": "udp", "network.type": "ipv4",
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected member %s = %v (absent fields are left out)", k, got[k])
		}
	}

	flags := capturePath(t, "tcpdump/print-flags.pcap")
	code, out, _ = hdrlog(t, ".", "test", "--no-kernel", "-r", flags, "--schema", "ecs", "-e", "http.request",
		"--log", "tcp.dstport,http.request.method,http.request.uri,http.host,http.user_agent,http.request.version")
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &got); code != 0 || err != nil {
		t.Fatalf("http: exit %d, %v: %s", code, err, out)
	}
	for k, v := range map[string]any{"http.request.method": "GET", "url.original": "/", "url.path": "/", "url.domain": "localhost",
		"http.version": "1.1", "destination.port": 80.0, "network.transport": "tcp"} {
		if got[k] != v {
			t.Errorf("http: %s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["user_agent.original"]; !ok {
		t.Errorf("http: no user_agent.original: %v", got)
	}
	if code, _, errOut := hdrlog(t, ".", "test", "-r", flags, "-e", "tcp", "--schema", "ecs", "--format", "text"); code != 2 || !strings.Contains(errOut, "it takes --format json") {
		t.Errorf("--schema ecs --format text: exit %d: %s", code, errOut)
	}
}

// Package httpcorpus is hdrlog's adversarial HTTP corpus (issue 18): HTTP
// requests and responses that carry planted secrets in every place hdrlog
// redacts by default, written the ways a client can bend a header (a bare
// CR, a NUL, obs-fold, duplicates, white-space padding, space before the
// colon, case, LF-only lines, pipelining, 130 header lines, cuts), and the
// rules that log every field those secrets could reach. Every secret holds
// Marker, so that one search of an output, a file or a map dump finds any
// of them.
//
// The frames are stored as testdata/captures/hdrlog/adversarial-http.pcap
// (WritePcap; `go test ./internal/httpcorpus -update` rewrites it), which
// runtime's TestAdversarialHTTPCorpus (kernel and reference evaluator, map
// dumps) and cmd/hdrlog's TestTestAdversarialHTTPCorpus (hdrlog test: JSON,
// text, ECS, OTLP, -w) replay.
package httpcorpus

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/hdrlog/hdrlog/internal/testpkt"
)

// Marker is in every planted secret, and nowhere else in the corpus.
const Marker = "PLANTED-S3CRET"

// secret is a planted secret named by where it is planted.
func secret(place string) string { return Marker + "-" + place }

// Frame is one frame of the corpus.
type Frame struct {
	Name  string
	Bytes []byte
	// Fire are the rules of Rules that must log an event of this frame
	// (they may also log others).
	Fire []string
}

// Rules log every field a planted secret could reach, at tc ingress and at
// XDP (the headers are 32 strings at most per hook, so they are split), and
// match what the corpus plants so that each one fires. The redact
// statements add a header and a query parameter to the default lists.
const Rules = `redact header "X-Corp-Secret"
redact query otp

rule urls {
    hook tc ingress
    match http
    log http.request.method, http.request.uri, http.host, http.user_agent, http.referer, http.location, http.response_for.uri, http.authorization, http.cookie, http.set_cookie, http.header["X-Forward-Url"], http.header["X-Corp-Secret"], http.truncated
}
rule headers {
    hook xdp
    match http
    log http.request.uri, http.header["Authorization"], http.header["Proxy-Authorization"], http.header["Cookie"], http.header["Set-Cookie"], http.header["X-Api-Key"], http.header["Api-Key"], http.header["ApiKey"], http.header["X-Auth-Token"], http.header["X-Access-Token"], http.header["X-Amz-Security-Token"], http.header["X-Goog-Api-Key"], http.header["X-Vault-Token"], http.header["Private-Token"], http.header["X-Csrf-Token"], http.header["X-Xsrf-Token"], http.header["X-Session-Token"], http.header["X-Corp-Secret"], http.header["X-Forward-Url"], http.referer
}
rule bearer {
    hook xdp
    match http.authorization contains "Bearer"
    log http.authorization, http.host
}
rule secret_query {
    hook tc ingress
    match http.request.uri contains "token=" || http.request.uri contains "password=" || http.referer contains "access_token="
    log http.request.uri, http.referer
}
rule userinfo {
    hook xdp
    match http.request.uri contains "@" || http.referer contains "@" || http.location contains "@"
    log http.request.uri, http.referer, http.location
}
rule api_key {
    hook tc ingress
    match http.header["X-Api-Key"] contains "S3CRET" || http.header["X-Auth-Token"] || http.header["X-Corp-Secret"]
    log http.header["X-Api-Key"], http.header["X-Auth-Token"], http.header["X-Corp-Secret"]
}
rule response {
    hook tc ingress
    match http.response
    log http.response.code, http.location, http.set_cookie, http.response_for.uri, http.header["X-Auth-Token"]
}
rule payload_scan {
    hook xdp
    match tcp.payload contains "Authorization:"
    log tcp.srcport, tcp.dstport
}
rule truncated {
    hook xdp
    match http.truncated
    log http.request.uri, http.authorization, http.truncated
}
`

// RuleNames are the rules of Rules.
var RuleNames = []string{"urls", "headers", "bearer", "secret_query", "userinfo", "api_key", "response", "payload_scan", "truncated"}

// OpenRule unredacts what Rules redact: added to Rules, its events carry
// the planted secrets, which shows that a search for Marker finds them.
const OpenRule = `
rule open {
    hook xdp
    match http.authorization || http.request.uri contains "token="
    log http.authorization, http.request.uri
    unredact http.authorization, http.request.uri
}
`

// Every secret header of rules.SecretHeaders, and X-Corp-Secret, which
// Rules redact with a statement.
var secretHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key", "Api-Key", "ApiKey",
	"X-Auth-Token", "X-Access-Token", "X-Amz-Security-Token", "X-Goog-Api-Key", "X-Vault-Token", "Private-Token",
	"X-Csrf-Token", "X-Xsrf-Token", "X-Session-Token", "X-Corp-Secret"}

// Every secret query parameter the issue names, one of rules.SecretQuery's
// written with '-', and otp, which Rules add with a statement.
var secretQuery = []string{"token", "password", "passwd", "secret", "api_key", "apikey", "access_token", "sig", "client-secret", "otp"}

const (
	client = "10.0.0.1"
	server = "10.0.0.2"
)

// request is a frame from the client (source port sport) to server port
// dport carrying payload.
func request(sport, dport uint16, payload string) []byte {
	return testpkt.New().IPv4(client, server).TCP(sport, dport).Seq(1000).Flags(testpkt.ACK | testpkt.PSH).Payload([]byte(payload)).Bytes()
}

func response(dport uint16, payload string) []byte {
	return testpkt.New().IPv4(server, client).TCP(80, dport).Seq(5000).Flags(testpkt.ACK | testpkt.PSH).Payload([]byte(payload)).Bytes()
}

// Frames returns the corpus, in capture order.
func Frames() []Frame {
	var fs []Frame
	add := func(name string, b []byte, fire ...string) { fs = append(fs, Frame{Name: name, Bytes: b, Fire: fire}) }

	// Every secret header and query parameter, plainly.
	var hs []string
	for _, h := range secretHeaders {
		v := secret("hdr-" + strings.ToLower(h))
		if h == "Authorization" {
			v = "Bearer " + v
		}
		hs = append(hs, h+": "+v)
	}
	var q []string
	for _, p := range secretQuery {
		q = append(q, p+"="+secret("q-"+p))
	}
	hs = append(hs, "Host: corpus.example",
		"Referer: https://bob:"+secret("referer-userinfo")+"@ref.example/r?page=2&access_token="+secret("referer-q")+"&x=1",
		"X-Forward-Url: http://carol:"+secret("hdr-url-userinfo")+"@fwd.example/?sig="+secret("hdr-url-q"))
	add("every_place", request(40000, 80, "GET /login?user=alice&"+strings.Join(q[:4], "&")+" HTTP/1.1\r\n"+strings.Join(hs, "\r\n")+"\r\n\r\n"),
		"urls", "headers", "bearer", "secret_query", "userinfo", "api_key")
	add("every_query", request(40001, 80, "GET /q?a=1&"+strings.Join(q[4:], "&")+";x=2#f HTTP/1.1\r\nHost: corpus.example\r\n\r\n"),
		"urls", "headers")
	// URL userinfo in the request target (a proxy request).
	add("userinfo_target", request(40002, 8080, "GET http://alice:"+secret("target-userinfo")+"@proxy.example/x?token="+secret("target-q")+" HTTP/1.1\r\nHost: proxy.example\r\n\r\n"),
		"urls", "headers", "userinfo", "secret_query")
	// A bare CR ends a header line, as servers split it.
	add("bare_cr", request(40003, 80, "GET /?token="+secret("barecr-line")+"\rx HTTP/1.1\r\nHost: a\rAuthorization: Bearer "+secret("barecr-authz")+
		"\r\nUser-Agent: ua\rCookie: "+secret("barecr-cookie")+"\r\nX-Note: n\rX-Api-Key: "+secret("barecr-apikey")+
		"\r\nReferer: http://r.example/\rX-Auth-Token: "+secret("barecr-authtoken")+"\r\n\r\n"),
		"urls", "headers", "bearer", "api_key")
	// NUL bytes in names and values.
	add("nul", request(40004, 80, "GET / HTTP/1.1\r\nHost: a\x00b\r\nAuthorization: Bearer "+secret("nul-authz")+"\x00tail\r\nX-Api-Key: \x00"+secret("nul-apikey")+
		"\r\nAuthor\x00ization: Bearer "+secret("nul-name")+"\r\n\r\n"),
		"urls", "headers", "bearer", "api_key")
	// obs-fold: continuation lines are not joined, and not headers.
	add("obs_fold", request(40005, 80, "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer\r\n "+secret("fold-authz")+"\r\nX-Api-Key:\r\n\t"+secret("fold-apikey")+
		"\r\nUser-Agent: ua\r\n Cookie: "+secret("fold-cookie")+"\r\nReferer: https://r.example/p\r\n ?token="+secret("fold-referer")+"\r\n\r\n"),
		"urls", "headers", "bearer")
	// The same header twice: the first counts; both are secrets.
	add("duplicates", request(40006, 80, "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer "+secret("dup-authz-1")+"\r\nAuthorization: Bearer "+secret("dup-authz-2")+
		"\r\nX-Api-Key: "+secret("dup-apikey-1")+"\r\nx-api-key: "+secret("dup-apikey-2")+"\r\nCookie: "+secret("dup-cookie-1")+"\r\nCookie: "+secret("dup-cookie-2")+
		"\r\nReferer: http://u:"+secret("dup-referer-1")+"@r.example/\r\nReferer: http://u:"+secret("dup-referer-2")+"@r.example/\r\n\r\n"),
		"urls", "headers", "bearer", "api_key", "userinfo")
	// White space padding after the colon, however long.
	add("padded", request(40007, 80, "GET / HTTP/1.1\r\nHost: h\r\nAuthorization:"+strings.Repeat(" ", 300)+"Bearer "+secret("pad-authz")+
		"\r\nX-Api-Key:"+strings.Repeat("\t", 40)+secret("pad-apikey")+"\r\nCookie: \t \t "+secret("pad-cookie")+"  \r\nReferer:"+strings.Repeat(" ", 17)+
		"http://u:"+secret("pad-referer")+"@r.example/?sig="+secret("pad-referer-q")+"\r\n\r\n"),
		"urls", "headers", "bearer", "api_key", "userinfo")
	// White space before the colon: not the header.
	add("space_before_colon", request(40008, 80, "GET / HTTP/1.1\r\nHost: h\r\nAuthorization : Bearer "+secret("spc-authz")+"\r\nX-Api-Key\t: "+secret("spc-apikey")+"\r\n\r\n"),
		"urls", "headers")
	// Names and parameters in other cases, '-' for '_'.
	add("case", request(40009, 80, "GET /c?TOKEN="+secret("case-q-token")+"&Api-Key="+secret("case-q-apikey")+"&PassWord="+secret("case-q-password")+
		" HTTP/1.1\r\nHost: h\r\nAUTHORIZATION: Bearer "+secret("case-authz")+"\r\nx-API-key: "+secret("case-apikey")+"\r\nx-corp-SECRET: "+secret("case-corp")+"\r\n\r\n"),
		"urls", "headers", "bearer", "api_key")
	// LF-only line ends, on a port hdrlog finds HTTP on by its method.
	add("lf_only", request(40010, 9000, "POST /submit?password="+secret("lf-q")+" HTTP/1.1\nHost: h\nAuthorization: Bearer "+secret("lf-authz")+"\nX-Auth-Token: "+secret("lf-authtoken")+"\n\n"),
		"urls", "headers", "bearer", "api_key", "secret_query")
	// Pipelined requests: the second one's secrets too.
	add("pipelined", request(40011, 80, "GET /one HTTP/1.1\r\nHost: h\r\n\r\nGET /two?access_token="+secret("pipe-q")+" HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer "+
		secret("pipe-authz")+"\r\nCookie: "+secret("pipe-cookie")+"\r\n\r\n"),
		"urls", "headers", "bearer", "secret_query")
	// Past 128 header lines: the decoder gives up (http.truncated).
	var pads []string
	for i := range 130 {
		pads = append(pads, fmt.Sprintf("X-Pad-%d: p", i))
	}
	add("after_128_lines", request(40012, 80, string(testpkt.HTTPRequest("GET", "/late?token="+secret("late-q"), "HTTP/1.1",
		append(pads, "Authorization: Bearer "+secret("late-authz"), "X-Api-Key: "+secret("late-apikey"))...))),
		"urls", "headers", "truncated", "secret_query")
	// Cut at the segment's end, inside a secret header.
	add("cut_header", request(40013, 80, "GET /?password="+secret("cut-q")+" HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer "+secret("cut-authz")),
		"urls", "headers", "truncated", "secret_query")
	// Long values: a secret past maxlen, past the tc test run's frame size.
	long := strings.Repeat("v", 1500)
	add("long_values", request(40014, 80, "GET /"+long+"?"+long+"=1&token="+secret("long-q")+"&x="+long+" HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer "+long+secret("long-authz")+
		"\r\nReferer: http://u:"+long+secret("long-referer")+"@r.example/\r\n\r\n"),
		"headers", "truncated")
	// A request over IPv6.
	add("ipv6", testpkt.New().IPv6("2001:db8::1", "2001:db8::2").TCP(40015, 80).Seq(1).Flags(testpkt.ACK|testpkt.PSH).
		Payload([]byte("GET /v6?token="+secret("v6-q")+" HTTP/1.1\r\nHost: v6.example\r\nAuthorization: Bearer "+secret("v6-authz")+"\r\n\r\n")).Bytes(),
		"urls", "headers", "bearer", "secret_query")
	// A request and its response: the request's target in the response's
	// event (http.response_for.uri), a Location with userinfo and a secret
	// parameter, Set-Cookie and a secret header in a response.
	add("tx_request", request(40016, 80, "GET /start?token="+secret("tx-q")+"&state=s HTTP/1.1\r\nHost: app.example\r\n\r\n"),
		"urls", "headers", "secret_query")
	add("tx_response", response(40016, "HTTP/1.1 302 Found\r\nLocation: https://u:"+secret("location-userinfo")+"@app.example/cb?code=1&access_token="+secret("location-q")+
		"\r\nSet-Cookie: sid="+secret("setcookie")+"; HttpOnly\r\nX-Auth-Token: "+secret("resp-authtoken")+"\r\nContent-Length: 0\r\n\r\n"),
		"urls", "headers", "response", "userinfo")
	return fs
}

// WritePcap writes the frames as a classic pcap capture (Ethernet,
// microseconds), one second apart from a fixed time: the same bytes on
// every run.
func WritePcap(w io.Writer, frames []Frame) error {
	bw := bufio.NewWriter(w)
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // LINKTYPE_ETHERNET
	bw.Write(hdr)
	for i, f := range frames {
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], uint32(1_800_000_000+i))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(f.Bytes)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(f.Bytes)))
		bw.Write(rec)
		bw.Write(f.Bytes)
	}
	return bw.Flush()
}

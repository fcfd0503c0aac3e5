module github.com/hdrlog/hdrlog

go 1.26.8

require (
	github.com/alecthomas/participle/v2 v2.1.4
	github.com/cilium/ebpf v0.22.0
	github.com/gopacket/gopacket v1.7.7
	github.com/spf13/pflag v1.1.0
	golang.org/x/sys v0.45.0
)

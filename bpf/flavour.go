package bpf

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Flavour is what differs between program types: where the context keeps the
// packet bounds and the interface, what "pass" is, how the program attaches.
// Everything hook-specific lives in this table, not in conditionals spread
// through the code generator.
type Flavour struct {
	Name       string // program name (at most 15 bytes)
	Type       ebpf.ProgramType
	AttachType ebpf.AttachType
	CtxData    int16 // offset of the u32 data pointer in the context
	CtxDataEnd int16
	CtxIfindex int16
	CtxLen     int16 // offset of the u32 packet length; -1: data_end - data
	// CtxWireLen is the offset of the u32 length on the wire a test run's
	// context sets (__sk_buff.wire_len); -1: the program type has none, and
	// a test run passes the length as a u32 of metadata before the frame
	// (CtxDataMeta).
	CtxWireLen  int16
	CtxDataMeta int16 // offset of the u32 data_meta pointer; -1: none
	// CtxTstamp is the offset of the u64 __sk_buff.tstamp, which a test
	// run sets to the capture's time of the frame; -1: none (XDP: a test
	// run passes the time as a u64 at 8 in the metadata).
	CtxTstamp   int16
	VLANInMeta  bool  // the outer VLAN tag may sit in context metadata
	CtxVLANPres int16 // __sk_buff.vlan_present
	CtxVLANTCI  int16 // __sk_buff.vlan_tci (host order)
	CtxVLANProt int16 // __sk_buff.vlan_proto (network order)
	Pass        int32 // return code that leaves the packet alone
	// LoadBytes copies packet bytes at an offset from the frame's start,
	// past the linear part too: bpf_skb_load_bytes, bpf_xdp_load_bytes.
	LoadBytes asm.BuiltinFunc
	// L3Start: the frame starts at the network header (cgroup_skb), whose
	// EtherType is the u32 at CtxProtocol (__sk_buff.protocol, network
	// order as a host-order load of the frame's field reads it).
	L3Start     bool
	CtxProtocol int16
}

// Offsets in struct __sk_buff and struct xdp_md (include/uapi/linux/bpf.h).
const (
	skbLen         = 0
	skbProtocol    = 16
	skbVLANPresent = 20
	skbVLANTCI     = 24
	skbVLANProto   = 28
	skbIfindex     = 40
	skbData        = 76
	skbDataEnd     = 80
	skbTstamp      = 152
	skbWireLen     = 160

	xdpData           = 0
	xdpDataEnd        = 4
	xdpDataMeta       = 8
	xdpIngressIfindex = 12

	xdpPass   = 2  // XDP_PASS
	tcActNext = -1 // TC_ACT_UNSPEC, TCX_NEXT: continue with the next program
)

// XDP is the flavour of XDP programs.
var XDP = Flavour{
	Name: "hdrlog_xdp", Type: ebpf.XDP, AttachType: ebpf.AttachXDP,
	CtxData: xdpData, CtxDataEnd: xdpDataEnd, CtxIfindex: xdpIngressIfindex, CtxLen: -1,
	CtxWireLen: -1, CtxDataMeta: xdpDataMeta, CtxTstamp: -1,
	Pass: xdpPass, LoadBytes: asm.FnXdpLoadBytes,
}

// TCIngress and TCEgress are the flavours of tcx programs.
var (
	TCIngress = tcFlavour("hdrlog_tc_in", ebpf.AttachTCXIngress)
	TCEgress  = tcFlavour("hdrlog_tc_eg", ebpf.AttachTCXEgress)
)

func tcFlavour(name string, at ebpf.AttachType) Flavour {
	return Flavour{
		Name: name, Type: ebpf.SchedCLS, AttachType: at,
		CtxData: skbData, CtxDataEnd: skbDataEnd, CtxIfindex: skbIfindex, CtxLen: skbLen,
		CtxWireLen: skbWireLen, CtxDataMeta: -1, CtxTstamp: skbTstamp,
		VLANInMeta: true, CtxVLANPres: skbVLANPresent, CtxVLANTCI: skbVLANTCI, CtxVLANProt: skbVLANProto,
		Pass: tcActNext, LoadBytes: asm.FnSkbLoadBytes,
	}
}

// CgroupIngress and CgroupEgress are the flavours of cgroup_skb programs:
// the packets of a cgroup's sockets, from the network header on; 1 lets
// the packet go.
var (
	CgroupIngress = cgroupFlavour("hdrlog_cg_in", ebpf.AttachCGroupInetIngress)
	CgroupEgress  = cgroupFlavour("hdrlog_cg_eg", ebpf.AttachCGroupInetEgress)
)

func cgroupFlavour(name string, at ebpf.AttachType) Flavour {
	return Flavour{
		Name: name, Type: ebpf.CGroupSKB, AttachType: at,
		CtxData: skbData, CtxDataEnd: skbDataEnd, CtxIfindex: skbIfindex, CtxLen: skbLen,
		CtxWireLen: skbWireLen, CtxDataMeta: -1,
		Pass: 1, LoadBytes: asm.FnSkbLoadBytes,
		L3Start: true, CtxProtocol: skbProtocol,
	}
}

// ReturnPass emits "return pass".
func (f Flavour) ReturnPass(b *Builder) {
	b.Emit(asm.Mov.Imm(asm.R0, f.Pass), asm.Return())
}

// Syscall is the flavour of system-call programs: raw tracepoints (struct
// bpf_raw_tracepoint_args: u64 args[]) at sys_enter and sys_exit. They have
// no packet and no interface (CtxIfindex -1: events carry ifindex 0 and
// frame length 0) and return 0.
func Syscall(name string) Flavour {
	return Flavour{
		Name: name, Type: ebpf.RawTracepoint,
		CtxData: -1, CtxDataEnd: -1, CtxIfindex: -1, CtxLen: -1, CtxWireLen: -1, CtxDataMeta: -1, CtxTstamp: -1,
		Pass: 0,
	}
}

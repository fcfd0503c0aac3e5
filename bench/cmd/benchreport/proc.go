package main

import (
	"fmt"
	"net"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/bench/internal/measure"
	"github.com/hdrlog/hdrlog/bench/internal/suite"
	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// Implementations of the process-attribution benchmark.
const (
	implProcBase = "hdrlog"        // a tc ingress rule logging addresses and ports
	implProcPid  = "hdrlog + proc" // the same, logging proc.pid and proc.name too
)

// procResult prices process attribution: (a) per packet at tc ingress,
// the same rule with and without process fields, on a packet of a local
// TCP connection (the socket lookup finds it, its storage names this
// process) and on one that no socket owns (the lookup misses); (b) per
// system call, a loop of connect(2) calls on a UDP socket (nothing is
// sent) and of getppid(2), with no program attached, with a connect rule
// that matches no call, and with one that logs every connect.
type procResult struct {
	Cells   []*cell
	PidSeen bool // the hit packet's event named this process
	Sys     []*sysRow
	Calls   int // calls per trial
	Err     string
}

// sysRow is one system call's per-call wall time (ns) in each set-up, per
// trial (trials interleaved).
type sysRow struct {
	Call   string
	Trials map[string][]float64
	Events float64 // events per call of the logging set-up, as read
	Lost   uint64
}

// Set-ups of the system-call benchmark.
const (
	sysNone = "no program"
	sysMiss = "rule matching nothing"
	sysLog  = "rule logging every call"
)

func (b *bench) benchProc() *procResult {
	res := &procResult{}
	fail := func(err error) *procResult {
		res.Err = err.Error()
		b.logf("proc: %v", err)
		return res
	}
	tr, err := runtime.StartProcTracker()
	if err != nil {
		return fail(err)
	}
	defer tr.Close()
	// A TCP connection on loopback, made after the socket hooks started:
	// the client's socket has a record (its connect wrote it). The packet
	// is one the server sends it, as tc ingress sees it.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	defer l.Close()
	cli, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		return fail(err)
	}
	defer cli.Close()
	srv, err := l.Accept()
	if err != nil {
		return fail(err)
	}
	defer srv.Close()
	lport, cport := uint16(l.Addr().(*net.TCPAddr).Port), uint16(cli.LocalAddr().(*net.TCPAddr).Port)
	closed := freeTCPPort()
	frame := func(sport, dport uint16) []byte {
		return testpkt.New().IPv4("127.0.0.1", "127.0.0.1").TCP(sport, dport).Seq(1000).Flags(testpkt.ACK).Bytes()
	}
	classes := []suite.Class{
		{Name: "own-socket", Title: "TCP segment to a local connection's client: the lookup finds its socket", Frame: frame(lport, cport)},
		{Name: "no-socket", Title: "TCP segment to a closed port: the lookup misses", Frame: frame(cport, closed)},
	}
	load := func(name, log string) (*impl, error) {
		src := fmt.Sprintf("rule r {\n    hook tc ingress\n    match tcp\n    log %s\n}\n", log)
		set, err := suite.Check("proc.rules", src)
		if err != nil {
			return nil, err
		}
		out, err := compiler.Compile(set, compiler.Options{WakeupBytes: noWakeup})
		if err != nil {
			return nil, err
		}
		c, err := runtime.Load(out, runtime.LoadOptions{RingBytes: ringFor(2*recordBytes(80), b.repeat), Proc: tr.Map})
		if err != nil {
			return nil, err
		}
		return &impl{name: name, prog: c.Programs[rules.HookTCIngress], events: c.Events, lost: c.Lost, closer: func() { c.Close() }, dec: c.Decoder}, nil
	}
	base, err := load(implProcBase, "ip.src, ip.dst, tcp.srcport, tcp.dstport")
	if err != nil {
		return fail(err)
	}
	defer base.Close()
	withProc, err := load(implProcPid, "ip.src, ip.dst, tcp.srcport, tcp.dstport, proc.pid, proc.name")
	if err != nil {
		return fail(err)
	}
	defer withProc.Close()
	// The hit packet's event must name this process, the miss packet's none.
	for i, cl := range classes {
		recs, err := runOnce(withProc, cl.Frame)
		if err != nil || len(recs) != 1 {
			return fail(fmt.Errorf("%s: %d events (%v)", cl.Name, len(recs), err))
		}
		var ev runtime.Event
		if err := withProc.dec.Decode(recs[0], &ev); err != nil {
			return fail(err)
		}
		pid := ev.Values[4]
		if i == 0 {
			res.PidSeen = pid.Present && int(pid.U) == os.Getpid()
			if !res.PidSeen {
				return fail(fmt.Errorf("the local connection's packet is not attributed to this process (pid present %v, %d)", pid.Present, pid.U))
			}
		} else if pid.Present {
			return fail(fmt.Errorf("the packet to a closed port is attributed to pid %d", pid.U))
		}
	}
	for _, cl := range classes {
		b.logf("proc %s", cl.Name)
		c, err := runCell("PROC", cl.Name, []*impl{b.emptyTC, base, withProc}, cl.Frame, b.repeat, b.trials)
		if err != nil {
			return fail(err)
		}
		res.Cells = append(res.Cells, c)
	}
	if err := b.benchSyscalls(res); err != nil {
		return fail(err)
	}
	return res
}

func freeTCPPort() uint16 {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 9
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// benchSyscalls times system calls in a loop on this pinned thread with
// each set-up attached in turn (interleaved, forwards and backwards).
func (b *bench) benchSyscalls(res *procResult) error {
	res.Calls = 200_000
	if b.quick {
		res.Calls = 20_000
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	const port = 9 // discard: a UDP connect sends nothing
	var sa unix.RawSockaddrInet4
	sa.Family = unix.AF_INET
	sa.Port = port << 8 // network byte order
	sa.Addr = [4]byte{127, 0, 0, 1}
	load := func(match string) (*runtime.Collection, error) {
		src := fmt.Sprintf("rule r {\n    hook syscall connect\n    match %s\n    log proc.pid, proc.name, fd.sip, fd.sport, evt.res\n}\n", match)
		set, err := suite.Check("sys.rules", src)
		if err != nil {
			return nil, err
		}
		out, err := compiler.Compile(set, compiler.Options{WakeupBytes: noWakeup})
		if err != nil {
			return nil, err
		}
		return runtime.Load(out, runtime.LoadOptions{RingBytes: ringFor(recordBytes(80), res.Calls)})
	}
	miss, err := load("fd.sport == 1")
	if err != nil {
		return err
	}
	defer miss.Close()
	logc, err := load(fmt.Sprintf("fd.sport == %d && fd.sip == 127.0.0.1", port))
	if err != nil {
		return err
	}
	defer logc.Close()
	logImpl := &impl{name: sysLog, events: logc.Events, lost: logc.Lost}
	defer logImpl.Close()
	setups := []struct {
		name string
		c    *runtime.Collection
	}{{sysNone, nil}, {sysMiss, miss}, {sysLog, logc}}
	calls := []struct {
		name string
		fn   func()
	}{
		{"connect (hooked)", func() {
			unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
		}},
		{"getppid (not hooked)", func() { unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0) }},
	}
	for _, call := range calls {
		row := &sysRow{Call: call.name, Trials: map[string][]float64{}}
		if _, _, err := logImpl.drain(false); err != nil {
			return err
		}
		if err := logImpl.resetLost(); err != nil {
			return err
		}
		events := 0
		for t := 0; t < b.trials; t++ {
			order := append(setups[:0:0], setups...)
			if t%2 == 1 {
				order[0], order[2] = order[2], order[0]
			}
			for _, s := range order {
				var as runtime.Attachments
				if s.c != nil {
					if as, err = s.c.AttachSyscalls(); err != nil {
						return err
					}
				}
				// The thread's CPU time (user and system: the programs
				// run in the calling thread), not the wall clock, which
				// counts the time other processes of a loaded machine
				// take the CPU.
				start := threadCPU()
				for i := 0; i < res.Calls; i++ {
					call.fn()
				}
				el := threadCPU() - start
				if err := as.Close(); err != nil {
					return err
				}
				row.Trials[s.name] = append(row.Trials[s.name], float64(el.Nanoseconds())/float64(res.Calls))
				if s.name == sysLog {
					n, _, err := logImpl.drain(false)
					if err != nil {
						return err
					}
					events += n
				}
			}
		}
		row.Events = float64(events) / float64(res.Calls*b.trials)
		row.Lost, _ = logImpl.lostTotal()
		b.logf("proc syscalls %s: %.1f events per call", call.name, row.Events)
		res.Sys = append(res.Sys, row)
	}
	return nil
}

func (r *report) proc(p func(string, ...any)) {
	x := r.Proc
	if x == nil {
		return
	}
	p("## 7. Process attribution and rules over system calls")
	p("")
	if x.Err != "" {
		p("**Error:** `%s`", x.Err)
		p("")
		return
	}
	p("(a) Per packet at tc ingress (test runs, %d runs per call): one rule `match tcp` logging ip.src, ip.dst, tcp.srcport, tcp.dstport (*hdrlog*), and the same logging proc.pid and proc.name too (*hdrlog + proc*: a socket lookup in the packet's namespace, `bpf_sk_lookup_tcp`, then a read of the socket's storage, which the socket hooks filled; docs/syscalls.md). The socket hooks run (`runtime.StartProcTracker`) and a TCP connection on loopback exists; the first packet is a segment of it to its client's socket (the event names this process: %v), the second goes to a closed port. Both log one event per run. ns per packet above the empty program, median [min–max]; *÷*: with process fields over without.", r.Bench.repeat, x.PidSeen)
	p("")
	p("| packet | hdrlog | hdrlog + proc | added | ÷ |")
	p("|---|---|---|---|---|")
	for _, c := range x.Cells {
		a, d := c.net(implProcBase, implEmpty, true), c.net(implProcPid, implEmpty, true)
		p("| %s | %s | %s | %.1f | %s |", c.Class, ns(a), ns(d), d.Median-a.Median, ratio(d, a))
	}
	p("")
	p("(b) Per system call (live, %s calls per trial in a loop on the pinned thread, timed by the thread's CPU time (`getrusage(RUSAGE_THREAD)`, user and system: the programs included, not the time other processes hold the CPU), %d trials, the set-ups interleaved): `connect(2)` of a UDP socket to 127.0.0.1:9 (hooked; nothing is sent) and `getppid(2)` (not hooked: what every other call of the machine pays while rules over system calls are attached). *No program*: nothing attached; *rule matching nothing*: `hook syscall connect` testing `fd.sport == 1` (the programs at sys_enter and sys_exit run, copy the arguments, test, log nothing); *rule logging every call*: the same rule testing the call's own port, which logs 5 fields per connect (ring drained between trials, wake-up threshold out of reach). ns per call, median [min–max]; *÷*: against no program, same trials. The machine's other processes may have programs of their own at these tracepoints: they weigh on every column alike.", fmtInt(x.Calls), r.Bench.trials)
	p("")
	p("| call | no program | rule matching nothing | ÷ | rule logging every call | ÷ | events per call |")
	p("|---|---|---|---|---|---|---|")
	for _, row := range x.Sys {
		n, m, l := measure.Summarise(row.Trials[sysNone]), measure.Summarise(row.Trials[sysMiss]), measure.Summarise(row.Trials[sysLog])
		p("| %s | %s | %s | %s | %s | %s | %.2f |", row.Call, ns(n), ns(m), ratio(m, n), ns(l), ratio(l, n), row.Events)
		if row.Lost > 0 {
			p("")
			p("Events lost (%s): %d.", row.Call, row.Lost)
		}
	}
	p("")
}

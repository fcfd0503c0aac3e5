package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/examples"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/runtime"
)

// demoRules names the rule file the demo attaches unless given others; its
// text is compiled into the binary (examples.DemoRules).
const demoRules = "examples/demo.rules"

func init() {
	register(&command{
		name:    "demo",
		args:    "[flags] [FILE|DIR...]",
		summary: "show hdrlog at work on real traffic between two throw-away network namespaces",
		detail: `
Demo creates two network namespaces, A and B, joined by a veth pair;
attaches the rules (by default ` + demoRules + `, built into hdrlog)
to the veth end in B; sends real traffic from A for a few seconds
(TCP connections over IPv4 and IPv6, one to a closed port, UDP datagrams,
ICMP echo requests); prints the JSON lines and the summary; and removes
everything it created. Nothing happens outside the two namespaces.

It needs root (network namespaces, raw sockets, BPF) and iproute2's ip.`,
		setup: func(fs *pflag.FlagSet) func([]string) error {
			d := fs.Duration("duration", 3*time.Second, "how long to send traffic")
			return func(args []string) error {
				if *d <= 0 {
					return usagef("--duration must be positive")
				}
				if len(args) == 0 {
					dir, err := builtinDemoRules()
					if err != nil {
						return err
					}
					defer os.RemoveAll(dir)
					args = []string{filepath.Join(dir, filepath.Base(demoRules))}
				}
				return runDemo(args, *d)
			}
		},
	})
}

// builtinDemoRules writes the built-in demo rules into a new temporary
// directory (the rule loader reads files) and returns the directory.
func builtinDemoRules() (string, error) {
	dir, err := os.MkdirTemp("", "hdrlog-demo-")
	if err != nil {
		return "", fmt.Errorf("writing the built-in demo rules: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(demoRules)), examples.DemoRules, 0o644); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("writing the built-in demo rules: %w", err)
	}
	return dir, nil
}

// Ports of the demo's services in namespace B.
const (
	demoTCPPort    = 8080
	demoClosedPort = 9
	demoUDPPort    = 5353
)

func runDemo(args []string, duration time.Duration) (err error) {
	_, out, err := loadAndCompile(stderr, args, compiler.Options{})
	if err != nil {
		return err
	}
	c, err := runtime.Load(out, runtime.LoadOptions{})
	if err != nil {
		return err
	}
	defer c.Close()

	p, cleanup, err := netns.Setup()
	if err != nil {
		return fmt.Errorf("creating the demo's network namespaces: %w", err)
	}
	defer func() {
		if cerr := cleanup(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("removing the demo's namespaces: %w", cerr))
		} else {
			fmt.Fprintf(stderr, "demo: removed namespaces %s and %s\n", p.NSA, p.NSB)
		}
	}()
	fmt.Fprintf(stderr, "demo: namespace A %s (%s, %s) <-veth-> namespace B %s (%s, %s)\n",
		p.NSA, p.AddrA, p.Addr6A, p.NSB, p.AddrB, p.Addr6B)

	var atts runtime.Attachments
	if err := p.Do("B", func() (err error) { atts, err = c.Attach(p.PeerIf); return err }); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "demo: attached %s in namespace B\n", describeAttachments(atts))

	svc, err := startDemoServices(p)
	if err != nil {
		return errors.Join(err, atts.Close())
	}
	defer svc.close()

	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	streamCtx, endStream := context.WithCancel(sigCtx)
	defer endStream()
	type result struct {
		st  runtime.Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := streamUntil(streamCtx, func() {}, c, atts.Close, runtime.StreamOptions{Interfaces: atts.Interfaces()})
		done <- result{st, err}
	}()

	fmt.Fprintf(stderr, "demo: sending traffic from A for %v\n", duration)
	sent, terr := demoTraffic(sigCtx, p, duration)
	// Let the last replies cross the veth before detaching.
	time.Sleep(100 * time.Millisecond)
	endStream()
	r := <-done
	fmt.Fprintf(stderr, "demo: A sent %s\n", sent)
	writeSummary(stderr, r.st)
	return errors.Join(terr, r.err)
}

// demoServices listen in namespace B: a TCP service on IPv4 and IPv6, and a
// UDP socket that swallows datagrams (so B answers no port-unreachable).
type demoServices struct {
	tcp4, tcp6 net.Listener
	udp        net.PacketConn
}

func startDemoServices(p *netns.Pair) (*demoServices, error) {
	s := &demoServices{}
	err := p.Do("B", func() (err error) {
		if s.tcp4, err = net.Listen("tcp4", netip.AddrPortFrom(p.AddrB, demoTCPPort).String()); err != nil {
			return err
		}
		if s.tcp6, err = net.Listen("tcp6", netip.AddrPortFrom(p.Addr6B, demoTCPPort).String()); err != nil {
			return err
		}
		s.udp, err = net.ListenPacket("udp4", netip.AddrPortFrom(p.AddrB, demoUDPPort).String())
		return err
	})
	if err != nil {
		s.close()
		return nil, fmt.Errorf("demo services in namespace B: %w", err)
	}
	for _, ln := range []net.Listener{s.tcp4, s.tcp6} {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := s.udp.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return s, nil
}

func (s *demoServices) close() {
	if s.tcp4 != nil {
		s.tcp4.Close()
	}
	if s.tcp6 != nil {
		s.tcp6.Close()
	}
	if s.udp != nil {
		s.udp.Close()
	}
}

// demoCounts is what the demo sent.
type demoCounts struct {
	tcp4, tcp6, refused, udp, pings, pongs int
}

func (c demoCounts) String() string {
	return fmt.Sprintf("%d TCP connections over IPv4, %d over IPv6, %d to a closed port, %d UDP datagrams, %d pings (%d answered)",
		c.tcp4, c.tcp6, c.refused, c.udp, c.pings, c.pongs)
}

// demoTraffic sends a round of traffic from namespace A every half second
// until duration has passed or ctx is cancelled.
func demoTraffic(ctx context.Context, p *netns.Pair, duration time.Duration) (demoCounts, error) {
	var n demoCounts
	var icmp net.PacketConn
	if err := p.Do("A", func() (err error) {
		icmp, err = net.ListenPacket("ip4:icmp", p.AddrA.String())
		return err
	}); err != nil {
		return n, fmt.Errorf("ICMP socket in namespace A: %w", err)
	}
	defer icmp.Close()

	end := time.Now().Add(duration)
	for seq := 1; ; seq++ {
		err := p.Do("A", func() error {
			dial := func(network string, addr netip.AddrPort) error {
				c, err := net.DialTimeout(network, addr.String(), time.Second)
				if err == nil {
					c.Close()
				}
				return err
			}
			if err := dial("tcp4", netip.AddrPortFrom(p.AddrB, demoTCPPort)); err != nil {
				return err
			}
			n.tcp4++
			if err := dial("tcp6", netip.AddrPortFrom(p.Addr6B, demoTCPPort)); err != nil {
				return err
			}
			n.tcp6++
			if err := dial("tcp4", netip.AddrPortFrom(p.AddrB, demoClosedPort)); !errors.Is(err, syscall.ECONNREFUSED) {
				return fmt.Errorf("connecting to closed port %d: want connection refused, got %v", demoClosedPort, err)
			}
			n.refused++
			u, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.AddrB, demoUDPPort)))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(u, "hdrlog demo datagram %d", seq)
			u.Close()
			if err != nil {
				return err
			}
			n.udp++
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("traffic from namespace A: %w", err)
		}
		if ok, err := ping(icmp, p.AddrB, uint16(os.Getpid()), uint16(seq)); err != nil {
			return n, err
		} else if ok {
			n.pongs++
		}
		n.pings++
		if time.Now().Add(500 * time.Millisecond).After(end) {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ping sends one ICMP echo request and waits up to a second for its reply.
func ping(c net.PacketConn, dst netip.Addr, id, seq uint16) (bool, error) {
	msg := make([]byte, 8, 8+32)
	msg[0] = 8 // echo request
	binary.BigEndian.PutUint16(msg[4:], id)
	binary.BigEndian.PutUint16(msg[6:], seq)
	msg = append(msg, "hdrlog demo ping................"...)
	binary.BigEndian.PutUint16(msg[2:], inetChecksum(msg))
	if _, err := c.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return false, fmt.Errorf("ping %s: %w", dst, err)
	}
	buf := make([]byte, 1500)
	deadline := time.Now().Add(time.Second)
	for {
		_ = c.SetReadDeadline(deadline)
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return false, nil // no reply in time: the summary says so
		}
		if n >= 8 && buf[0] == 0 && binary.BigEndian.Uint16(buf[4:]) == id && binary.BigEndian.Uint16(buf[6:]) == seq {
			return true, nil
		}
	}
}

// inetChecksum is the Internet checksum (RFC 1071) of b.
func inetChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

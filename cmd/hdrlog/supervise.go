package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/metrics"
	"github.com/hdrlog/hdrlog/runtime"
)

// streamFunc streams the events until ctx is done (streamUntil with the
// run's outputs).
type streamFunc func(ctx context.Context, release func(), detach func() error, opts runtime.StreamOptions, svc metrics.ServiceSource) (runtime.Stats, error)

// serviceCounts are the reloader's and the watcher's counts, for the metrics.
type serviceCounts struct {
	w  *runtime.Watcher
	rl *reloader
}

func (s serviceCounts) ServiceCounts() metrics.ServiceCounts {
	a, g, f := s.w.Counts()
	return metrics.ServiceCounts{Reloads: s.rl.counts.done.Load(), ReloadsFailed: s.rl.counts.failed.Load(),
		IfAttached: a, IfGone: g, IfAttachFailed: f}
}

// reloadSettle is how long a replaced program may still be running a
// packet that reached it before the swap; its events are read after that.
const reloadSettle = 20 * time.Millisecond

// supervise keeps a loaded collection running as a service would: attached
// to the selected interfaces as they come and go, its rules reloaded on
// SIGHUP and (with --watch) when the rule files change, until SIGINT or
// SIGTERM. The statistics are nil if it failed before streaming. It owns c (and the collections of reloads) and closes them.
func supervise(args []string, o runOptions, set runtime.IfaceSet, copts compiler.Options, lopts runtime.LoadOptions,
	c *runtime.Collection, rs *ruleSources, stream streamFunc) (*runtime.Stats, error) {
	var ns *runtime.Netns
	if o.netns != "" {
		var err error
		if ns, err = runtime.OpenNetns(o.netns); err != nil {
			c.Close()
			return nil, err
		}
		defer ns.Close()
	}
	records := new(runtime.Records)
	w, err := runtime.NewWatcher(c.Programs, runtime.WatcherOptions{Set: set, Netns: ns, Records: records, Notices: stderr})
	if err != nil {
		c.Close()
		return nil, err
	}
	defer w.Close()
	if kept, dropped, err := runtime.KeepCapabilities(o.netns != ""); err != nil {
		fmt.Fprintf(stderr, "hdrlog: could not drop the capabilities it no longer needs: %v\n", err)
	} else if dropped > 0 {
		fmt.Fprintf(stderr, "hdrlog: keeps only %s (for reloads and new interfaces); dropped %d other capabilities\n", strings.Join(kept, ", "), dropped)
	}
	swaps := runtime.NewSwaps()
	rl := newReloader(o.events.input(args), copts, lopts, c, rs, w, swaps, records, reloadSettle)
	defer func() { rl.closeSys(); rl.stop().Close(); rl.closeProc() }()

	sys, err := c.AttachSyscalls()
	if err != nil {
		return nil, err
	}
	rl.sys = sys
	if len(sys) > 0 {
		fmt.Fprintf(stderr, "hdrlog: attached %s\n", describeAttachments(sys))
	}
	if c.HasCgroupRules() {
		cg, err := c.AttachCgroup(o.cgroupPath)
		if err != nil {
			return nil, err
		}
		defer cg.Close()
		fmt.Fprintf(stderr, "hdrlog: attached %s\n", describeAttachments(cg))
		rl.cg, rl.cgFlag, rl.cgPath = cg, o.cgroup, o.cgroupPath
	}
	if atts := w.Attachments(); len(atts) > 0 {
		fmt.Fprintf(stderr, "hdrlog: attached %s\n", describeAttachments(atts))
	} else if hasPacketRules(c.Output) {
		fmt.Fprintf(stderr, "hdrlog: no interface matches yet; waiting for one to appear\n")
	}
	// The rule files are watched and SIGHUP is caught before hdrlog says
	// it is streaming: a change made once the notice is out reloads
	// (it was missed when made before the watch was set up).
	var fw *fileWatcher
	if o.watch {
		// The element files of named sets are watched too (those the
		// rules read at start; a set file first named by a reload is
		// watched from the next start).
		var err error
		if fw, err = newFileWatcher(append(watchedPaths(args), rs.SetFiles...)); err != nil {
			return nil, err
		}
		defer fw.close()
	}
	// A service manager sends SIGHUP to reload (systemctl reload).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	fmt.Fprintf(stderr, "hdrlog: streaming events %s; Ctrl-C stops\n", o.streamNotice())

	bg, endBg := context.WithCancel(context.Background())
	defer endBg()
	watchDone := make(chan error, 1)
	go func() { watchDone <- w.Run(bg) }()
	reloads := make(chan string, 1)
	go func() {
		for range hup {
			select {
			case reloads <- "SIGHUP":
			default: // one is already waiting
			}
		}
	}()
	if fw != nil {
		go fw.run(bg, reloads)
	}
	go func() {
		for {
			select {
			case <-bg.Done():
				return
			case why := <-reloads:
				rl.reload(why)
			}
		}
	}()

	detach := func() error {
		rl.stop()
		endBg()
		return errors.Join(<-watchDone, w.Close(), rl.closeSys())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := stream(ctx, stop, detach, runtime.StreamOptions{IfName: w.IfName, Records: records, Swaps: swaps}, serviceCounts{w, rl})
	return &st, err
}

// hasPacketRules reports whether a compilation has programs for interfaces
// (it may have system-call programs only).
func hasPacketRules(out *compiler.Output) bool {
	for _, p := range out.Programs {
		if p.Hook.IsInterface() {
			return true
		}
	}
	return false
}

// hasCgroupRules reports whether a compilation has programs of cgroup
// hooks.
func hasCgroupRules(out *compiler.Output) bool {
	for _, p := range out.Programs {
		if p.Hook.IsCgroup() {
			return true
		}
	}
	return false
}

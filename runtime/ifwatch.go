package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/hdrlog/hdrlog/rules"
)

// Interfaces come and go (containers create and delete veths every
// minute). The watcher keeps the programs attached to every interface the
// user selected, now and later: it follows the kernel's RTM_NEWLINK and
// RTM_DELLINK notifications on a netlink socket (no polling), attaches to
// an interface that appears (or reappears under a watched name), and
// reports one that goes away, on standard error and in the stream. When an
// interface is deleted the kernel detaches its links itself; the watcher
// only releases them.

// IfaceSet selects interfaces by name.
type IfaceSet struct {
	// Names are interface names or shell patterns (path.Match: *, ?, [a-z]).
	Names []string
	// All selects every interface but loopback.
	All bool
}

// isPattern tells whether a -i argument is a pattern rather than a name.
func isPattern(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// Validate checks names and patterns.
func (s IfaceSet) Validate() error {
	if len(s.Names) == 0 && !s.All {
		return errors.New("no interface selected")
	}
	for _, n := range s.Names {
		if isPattern(n) {
			if _, err := path.Match(n, ""); err != nil {
				return fmt.Errorf("interface pattern %q is malformed (patterns use *, ? and [a-z], as shell globs)", n)
			}
			continue
		}
		if n == "" || len(n) > maxIfname || strings.ContainsAny(n, "/ \t\n") {
			return fmt.Errorf("%q is not a valid interface name", n)
		}
	}
	return nil
}

// Match tells whether the set selects an interface.
func (s IfaceSet) Match(name string, loopback bool) bool {
	if s.All && !loopback {
		return true
	}
	for _, n := range s.Names {
		if n == name {
			return true
		}
		if ok, _ := path.Match(n, name); ok && isPattern(n) {
			return true
		}
	}
	return false
}

// literalNames are the names of the set that are not patterns: they must
// exist when hdrlog starts (a typo should fail, not wait forever).
func (s IfaceSet) literalNames() []string {
	var out []string
	for _, n := range s.Names {
		if !isPattern(n) {
			out = append(out, n)
		}
	}
	return out
}

// WatcherOptions configure a Watcher.
type WatcherOptions struct {
	Set     IfaceSet
	Netns   *Netns    // nil: the process's namespace
	Records *Records  // stream records of interfaces attached, gone, failed
	Notices io.Writer // one line per change; nil means os.Stderr
}

// Watcher keeps programs attached to the selected interfaces.
type Watcher struct {
	opts WatcherOptions

	mu    sync.Mutex
	progs map[rules.Hook]*ebpf.Program
	atts  map[int]Attachments // by ifindex
	names map[int]string      // every interface seen, by ifindex (for event names)
	// counters, for the summary and metrics
	attached, gone, failed uint64
}

// NewWatcher attaches progs to every present interface of the set and
// returns the watcher; Run then follows changes. A literal name that does
// not exist, or a present interface that cannot be attached, is an error
// (and nothing stays attached).
func NewWatcher(progs map[rules.Hook]*ebpf.Program, opts WatcherOptions) (*Watcher, error) {
	// Rules over system calls alone need no interface: an empty set then
	// selects none.
	if err := opts.Set.Validate(); err != nil && (!opts.Set.Empty() || hasPacketPrograms(progs)) {
		return nil, err
	}
	if opts.Notices == nil {
		opts.Notices = os.Stderr
	}
	w := &Watcher{opts: opts, progs: progs, atts: map[int]Attachments{}, names: map[int]string{}}
	links, err := w.list()
	if err != nil {
		return nil, err
	}
	present := map[string]bool{}
	for _, l := range links {
		present[l.Attrs().Name] = true
	}
	for _, n := range opts.Set.literalNames() {
		if !present[n] {
			var names []string
			for p := range present {
				names = append(names, p)
			}
			sort.Strings(names)
			where := ""
			if opts.Netns != nil {
				where = " in network namespace " + opts.Netns.Name
			}
			return nil, fmt.Errorf("no interface named %q here%s (interfaces: %s)", n, where, strings.Join(names, ", "))
		}
	}
	for _, l := range links {
		a := l.Attrs()
		w.names[a.Index] = a.Name
		if !opts.Set.Match(a.Name, isLoopback(l)) {
			continue
		}
		if _, err := w.attach(a.Index, a.Name); err != nil {
			return nil, errors.Join(err, w.Close())
		}
	}
	return w, nil
}

func isLoopback(l netlink.Link) bool { return l.Attrs().Flags&net.FlagLoopback != 0 }

// The notifications the watcher acts on.
const (
	netlinkNewLink = unix.RTM_NEWLINK
	netlinkDelLink = unix.RTM_DELLINK
)

// list lists the interfaces of the namespace.
func (w *Watcher) list() ([]netlink.Link, error) {
	h, err := netlink.NewHandleAt(w.opts.Netns.handleOrNone())
	if err != nil {
		return nil, fmt.Errorf("netlink: %s", errnoText(err))
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %s", errnoText(err))
	}
	return links, nil
}

// attach attaches the current programs to one interface; w.mu held or
// not yet shared.
func (w *Watcher) attach(ifindex int, name string) (Attachments, error) {
	var as Attachments
	err := w.opts.Netns.Do(func() error {
		for _, h := range rules.Hooks {
			prog, ok := w.progs[h]
			if !ok {
				continue
			}
			a, err := AttachProgram(prog, h, ifindex, name)
			if err != nil {
				return err
			}
			as = append(as, a)
		}
		return nil
	})
	if err != nil {
		if cerr := as.Close(); cerr != nil {
			err = fmt.Errorf("%w (and undoing the attachments before it: %v)", err, cerr)
		}
		return nil, err
	}
	w.atts[ifindex] = as
	w.attached++
	return as, nil
}

// Attachments returns what is attached now.
func (w *Watcher) Attachments() Attachments {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out Attachments
	for _, as := range w.atts {
		out = append(out, as...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Iface != out[j].Iface {
			return out[i].Iface < out[j].Iface
		}
		return out[i].Hook < out[j].Hook
	})
	return out
}

// IfName names an interface index of the watched namespace, for
// StreamOptions.IfName.
func (w *Watcher) IfName(ifindex uint32) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, ok := w.names[int(ifindex)]
	return n, ok
}

// Counts returns how many interfaces were attached, went away while
// attached, and could not be attached, since the start.
func (w *Watcher) Counts() (attached, gone, failed uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.attached, w.gone, w.failed
}

// Close detaches everything.
func (w *Watcher) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	for i, as := range w.atts {
		errs = append(errs, as.Close())
		delete(w.atts, i)
	}
	return errors.Join(errs...)
}

// Run follows the namespace's interfaces until ctx is done. If the kernel
// drops notifications (the socket's buffer overflowed), it subscribes
// again and compares the list of interfaces with what is attached.
func (w *Watcher) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		ch := make(chan netlink.LinkUpdate, 256)
		done := make(chan struct{})
		var subErr error
		var errMu sync.Mutex
		err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{
			Namespace: ptr(w.opts.Netns.handleOrNone()),
			ErrorCallback: func(err error) {
				errMu.Lock()
				subErr = err
				errMu.Unlock()
			},
			ReceiveBufferSize: 1 << 20,
		})
		if err != nil {
			return fmt.Errorf("follow interfaces: netlink: %s", errnoText(err))
		}
		// Changes between NewWatcher's list (or the lost notifications)
		// and the subscription.
		w.resync()
		w.follow(ctx, ch)
		close(done)
		for range ch {
		}
		errMu.Lock()
		if subErr != nil && ctx.Err() == nil {
			fmt.Fprintf(w.opts.Notices, "hdrlog: interface notifications interrupted (%v); listing interfaces again\n", subErr)
		}
		errMu.Unlock()
		if ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// follow handles notifications until ctx is done or the channel closes.
func (w *Watcher) follow(ctx context.Context, ch <-chan netlink.LinkUpdate) {
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-ch:
			if !ok {
				return
			}
			a := u.Link.Attrs()
			switch u.Header.Type {
			case netlinkNewLink:
				w.appeared(a.Index, a.Name, isLoopback(u.Link))
			case netlinkDelLink:
				w.disappeared(a.Index, a.Name)
			}
		}
	}
}

// resync compares the list of interfaces with what is attached.
func (w *Watcher) resync() {
	links, err := w.list()
	if err != nil {
		fmt.Fprintf(w.opts.Notices, "hdrlog: %v\n", err)
		return
	}
	now := map[int]bool{}
	for _, l := range links {
		now[l.Attrs().Index] = true
		w.appeared(l.Attrs().Index, l.Attrs().Name, isLoopback(l))
	}
	w.mu.Lock()
	var gone []int
	for i := range w.atts {
		if !now[i] {
			gone = append(gone, i)
		}
	}
	w.mu.Unlock()
	for _, i := range gone {
		w.disappeared(i, "")
	}
}

// appeared handles a new interface, or news of a known one (a change of
// state or of name).
func (w *Watcher) appeared(ifindex int, name string, loopback bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.names[ifindex] = name
	as, attached := w.atts[ifindex]
	match := w.opts.Set.Match(name, loopback)
	switch {
	case attached && match:
		for _, a := range as {
			a.Iface = name
		}
		return
	case attached && !match:
		// Renamed out of the set.
		as.Close()
		delete(w.atts, ifindex)
		w.report(ifindex, name, "detached", "renamed out of the selected interfaces", nil)
		return
	case !match:
		return
	}
	as, err := w.attach(ifindex, name)
	if err != nil {
		w.failed++
		w.report(ifindex, name, "attach_failed", oneLineErr(err), nil)
		return
	}
	w.report(ifindex, name, "attached", "", as)
}

// disappeared handles a deleted interface.
func (w *Watcher) disappeared(ifindex int, name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if name == "" {
		name = w.names[ifindex]
	}
	delete(w.names, ifindex)
	as, ok := w.atts[ifindex]
	if !ok {
		return
	}
	// The kernel has detached the links with the device; closing them
	// releases the descriptors (and cannot fail on a link already gone).
	as.Close()
	delete(w.atts, ifindex)
	w.gone++
	w.report(ifindex, name, "gone", "", as)
}

// report writes one record and one notice; w.mu held.
func (w *Watcher) report(ifindex int, name, event, detail string, as Attachments) {
	fields := fmt.Sprintf(`"interface":%s,"ifindex":%d,"event":%q`, jsonString(name), ifindex, event)
	var hooks []string
	for _, a := range as {
		hooks = append(hooks, a.Hook.String())
	}
	if len(hooks) > 0 {
		fields += `,"hooks":[` + quoteAll(hooks) + `]`
	}
	if detail != "" {
		fields += `,"detail":` + jsonString(detail)
	}
	w.opts.Records.Add(fields)
	switch event {
	case "attached":
		fmt.Fprintf(w.opts.Notices, "hdrlog: interface %s (#%d) appeared: attached %s\n", name, ifindex, strings.Join(hooks, ", "))
	case "gone":
		fmt.Fprintf(w.opts.Notices, "hdrlog: interface %s (#%d) went away; its programs are detached; hdrlog attaches again if an interface of that name appears\n", name, ifindex)
	default:
		fmt.Fprintf(w.opts.Notices, "hdrlog: interface %s (#%d): %s: %s\n", name, ifindex, event, detail)
	}
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = jsonString(s)
	}
	return strings.Join(q, ",")
}

func oneLineErr(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

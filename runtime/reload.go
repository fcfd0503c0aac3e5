package runtime

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/hdrlog/hdrlog/rules"
)

// Update replaces the attached programs with progs, on every interface,
// and makes them the programs of interfaces attached later. A hook that
// both sets have keeps its link and has its program replaced in place
// (BPF_LINK_UPDATE, for XDP and tcx links alike): each packet meets either
// the old program or the new one, never both and never neither. A hook
// only the new set has is attached; one only the old set has is detached,
// last. On an error, what was changed is put back and the old programs
// keep running.
func (w *Watcher) Update(progs map[rules.Hook]*ebpf.Program) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.progs
	var undo []func() error
	var detach []*Attachment
	fail := func(err error) error {
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i]())
		}
		if uerr := errors.Join(errs...); uerr != nil {
			return fmt.Errorf("%w (and putting the old programs back: %v)", err, uerr)
		}
		return err
	}
	for ifindex, as := range w.atts {
		have := map[rules.Hook]bool{}
		var keep Attachments
		for _, a := range as {
			have[a.Hook] = true
			p, ok := progs[a.Hook]
			if !ok {
				detach = append(detach, a)
				continue
			}
			keep = append(keep, a)
			if err := a.update(p); err != nil {
				return fail(err)
			}
			a, prev := a, old[a.Hook]
			undo = append(undo, func() error { return a.update(prev) })
		}
		for _, h := range rules.Hooks {
			p, ok := progs[h]
			if !ok || have[h] {
				continue
			}
			name := as[0].Iface
			var a *Attachment
			err := w.opts.Netns.Do(func() (err error) {
				a, err = AttachProgram(p, h, ifindex, name)
				return err
			})
			if err != nil {
				return fail(err)
			}
			keep = append(keep, a)
			undo = append(undo, a.Close)
		}
		ifindex, as, keep := ifindex, as, keep
		w.atts[ifindex] = keep
		undo = append(undo, func() error { w.atts[ifindex] = as; return nil })
	}
	w.progs = progs
	var errs []error
	for _, a := range detach {
		errs = append(errs, a.Close())
	}
	return errors.Join(errs...)
}

// update replaces the attachment's program in place.
func (a *Attachment) update(p *ebpf.Program) error {
	if a.link == nil {
		return fmt.Errorf("replace %s program of %s: not attached", a.Hook, a.Iface)
	}
	if err := a.link.Update(p); err != nil {
		return fmt.Errorf("replace %s program of %s: %s", a.Hook, a.Iface, errnoText(err))
	}
	return nil
}

package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf/link"

	"github.com/hdrlog/hdrlog/rules"
)

// HasCgroupRules reports whether the collection has programs of cgroup
// hooks.
func (c *Collection) HasCgroupRules() bool {
	for h := range c.Programs {
		if h.IsCgroup() {
			return true
		}
	}
	return false
}

// CgroupPath resolves the cgroup of a run's cgroup hooks: flag (--cgroup),
// or else the one the rules name; a rule that names another one than the
// others, or than the flag, is an error (one run attaches its cgroup hooks
// to one cgroup). A relative path is taken under the cgroup v2 root.
func CgroupPath(flag string, rs *rules.RuleSet) (string, error) {
	path, from := flag, "--cgroup"
	for _, r := range rs.Rules {
		if !r.Hook.IsCgroup() || r.Cgroup == "" {
			continue
		}
		if path == "" {
			path, from = r.Cgroup, fmt.Sprintf("rule %s (%s)", r.Name, r.Span.Start)
		} else if filepath.Clean(r.Cgroup) != filepath.Clean(path) {
			return "", fmt.Errorf("rule %s (%s) names cgroup %s, %s names %s: a run attaches its cgroup hooks to one cgroup (run hdrlog once per cgroup)",
				r.Name, r.Span.Start, r.Cgroup, from, path)
		}
	}
	if path == "" {
		return "", fmt.Errorf("name the cgroup of the cgroup hooks with --cgroup PATH (e.g. --cgroup /sys/fs/cgroup/system.slice/nginx.service), or in the rule: hook cgroup egress \"PATH\"")
	}
	if !filepath.IsAbs(path) {
		root, err := CgroupRoot()
		if err != nil {
			return "", err
		}
		path = filepath.Join(root, path)
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("cgroup %s: %w", path, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("cgroup %s is not a directory of the cgroup v2 hierarchy", path)
	}
	root, err := CgroupRoot()
	if err == nil && !strings.HasPrefix(filepath.Clean(path)+"/", filepath.Clean(root)+"/") {
		return "", fmt.Errorf("cgroup %s is not under the cgroup v2 hierarchy (%s)", path, root)
	}
	return path, nil
}

// AttachCgroup attaches the programs of the cgroup hooks to the cgroup
// at path, through links: they see the packets of the sockets of its
// processes and of its descendants'. The links detach when hdrlog exits,
// however it exits. With no cgroup rule it attaches nothing.
func (c *Collection) AttachCgroup(path string) (Attachments, error) {
	var as Attachments
	for _, h := range rules.CgroupHooks {
		prog, ok := c.Programs[h]
		if !ok {
			continue
		}
		l, err := link.AttachCgroup(link.CgroupOptions{Path: path, Attach: c.Program(h).Flavour.AttachType, Program: prog})
		if err != nil {
			if cerr := as.Close(); cerr != nil {
				err = fmt.Errorf("%w (and undoing the attachments before it: %v)", err, cerr)
			}
			if isPermissionError(err) {
				return nil, fmt.Errorf("attach %s to cgroup %s: %w", h, path, privilegeError(ErrAttachPrivilege, err, capBPF, capNetAdmin))
			}
			return nil, fmt.Errorf("attach %s to cgroup %s: %s", h, path, errnoText(err))
		}
		as = append(as, &Attachment{Iface: path, Hook: h, Mode: ModeCgroup, link: l})
	}
	return as, nil
}

// UpdateCgroup replaces, in place (BPF_LINK_UPDATE), the programs of the
// cgroup attachments as by c's of the same hooks: a reload. The packets of
// the cgroup meet the old program or the new one, never neither. c must
// have the same cgroup hooks as the attachments (SameCgroupHooks).
func (c *Collection) UpdateCgroup(as Attachments) error {
	for _, a := range as {
		prog, ok := c.Programs[a.Hook]
		if !ok {
			return fmt.Errorf("the new rules have no %s rule", a.Hook)
		}
		if err := a.link.Update(prog); err != nil {
			return fmt.Errorf("replace the %s program of cgroup %s: %s", a.Hook, a.Iface, errnoText(err))
		}
	}
	return nil
}

// SameCgroupHooks reports whether c has programs for exactly the cgroup
// hooks of the attachments.
func (c *Collection) SameCgroupHooks(as Attachments) bool {
	n := 0
	for h := range c.Programs {
		if h.IsCgroup() {
			n++
		}
	}
	for _, a := range as {
		if _, ok := c.Programs[a.Hook]; !ok {
			return false
		}
	}
	return n == len(as)
}

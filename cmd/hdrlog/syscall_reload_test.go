package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
)

// The rule sets of TestRunReloadSyscallRules: "kept" is in every one,
// "changed" logs one field more from v2 on, "removed" goes with v2,
// "added" (a hook of its own: sendto) comes with it, "acc" is in every one.
const sysReloadV1 = `
rule kept    { hook syscall connect  match proc.name == "hl_conn" && fd.sip == 127.0.0.1 && fd.sport >= 20000 && fd.sport < 30000  log fd.sport }
rule changed { hook syscall connect  match proc.name == "hl_conn" && fd.sip == 127.0.0.1 && fd.sport >= 20000 && fd.sport < 30000  log fd.sport, fd.sip }
rule removed { hook syscall bind     match proc.name == "hl_conn"  log fd.sport }
rule acc     { hook syscall accept4  match proc.name == "hl_conn"  log fd.cport, evt.res }
`

const sysReloadV2 = `
rule kept    { hook syscall connect  match proc.name == "hl_conn" && fd.sip == 127.0.0.1 && fd.sport >= 20000 && fd.sport < 30000  log fd.sport }
rule changed { hook syscall connect  match proc.name == "hl_conn" && fd.sip == 127.0.0.1 && fd.sport >= 20000 && fd.sport < 30000  log fd.sport, evt.res }
rule added   { hook syscall sendto   match proc.name == "hl_conn" && fd.sport == 9  log fd.sport }
rule acc     { hook syscall accept4  match proc.name == "hl_conn"  log fd.cport, evt.res }
`

// sysReloadClient connects a UDP socket (nothing is sent) to 127.0.0.1 on
// port 20000+i for i = 0, 1, ... until told to stop on standard input,
// while a thread waits in accept4 on a listening socket from the start:
// that call enters under the first rules and returns under the last ones.
// Its command name is hl_conn (threads inherit it).
const sysReloadClient = `
import socket, sys, threading, time
open("/proc/self/comm", "w").write("hl_conn")
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
got = []
acc = threading.Thread(target=lambda: got.append(l.accept()))
acc.start()
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
time.sleep(0.1)  # the acceptor is in its call
print("ready", flush=True)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
i = 0
while not stop.is_set():
    u.connect(("127.0.0.1", 20000 + i))
    i += 1
    if i % 100 == 0:
        print("at", i, flush=True)
    time.sleep(0.0005)
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", 9))
c = socket.create_connection(l.getsockname())
acc.join()
print("done", i, c.getsockname()[1], flush=True)
`

// TestRunReloadSyscallRules reloads rules over system calls (SIGHUP, then
// --watch) while a process makes numbered calls at a steady rate: every
// call is logged exactly once by the rule every version keeps, and by the
// rule that changes (in its old shape, then its new one); a call under way
// across the reloads (accept4) is logged when it returns; the removed rule
// is summed up, the added one logs; the links of the replaced programs are
// gone.
func TestRunReloadSyscallRules(t *testing.T) {
	kerneltest.Require(t)
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		if kerneltest.InCI() {
			t.Fatal("no /usr/bin/python3 (make test-deps installs it)")
		}
		t.Skip("no /usr/bin/python3")
	}
	dir := t.TempDir()
	rules := writeFile(t, dir, "sys.rules", sysReloadV1)
	r := startRunHere(t, "--poll-interval", "5ms", "--watch", rules)
	links := func() int {
		n := 0
		for _, a := range regexp.MustCompile(`hdrlog: attached (.*)`).FindAllStringSubmatch(r.errOut.String(), -1) {
			n += strings.Count(a[1], "sys_exit")
		}
		return n
	}
	if n := links(); n != 3 {
		t.Errorf("%d sys_exit programs attached at start, want 3 (connect, bind, accept4):\n%s", n, r.errOut)
	}

	client := exec.Command("/usr/bin/python3", "-c", sysReloadClient)
	stdin, err := client.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	client.Stderr = os.Stderr
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Process.Kill(); _ = client.Wait() })
	said := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			said <- sc.Text()
		}
		close(said)
	}()
	// until waits for the client to say a line starting with prefix.
	until := func(prefix string) string {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-said:
				if !ok {
					t.Fatalf("the client ended before saying %q", prefix)
				}
				if strings.HasPrefix(l, prefix) {
					return l
				}
			case <-timeout:
				t.Fatalf("the client did not say %q within 20 s:\n%s", prefix, r.errOut)
			}
		}
	}
	// reloaded waits for the n-th reload record, then for 200 more calls.
	reloaded := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for len(reloadRecords(r.out.String())) < n {
			if time.Now().After(deadline) {
				t.Fatalf("reload %d did not happen within 20 s:\n%s", n, r.errOut)
			}
			time.Sleep(10 * time.Millisecond)
		}
		var at int
		fmt.Sscanf(until("at "), "at %d", &at)
		for now := at; now < at+200; {
			fmt.Sscanf(until("at "), "at %d", &now)
		}
	}
	until("ready")
	until("at 200")
	writeAtomically(t, rules, sysReloadV2) // --watch
	reloaded(1)
	if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	reloaded(2)
	if _, err := io.WriteString(stdin, "stop\n"); err != nil {
		t.Fatal(err)
	}
	var calls, cport int
	if _, err := fmt.Sscanf(until("done"), "done %d %d", &calls, &cport); err != nil {
		t.Fatal(err)
	}
	if err := client.Wait(); err != nil {
		t.Fatalf("client: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(find(r.lines(t), "kept")) < calls || len(find(r.lines(t), "acc")) == 0 || len(find(r.lines(t), "added")) == 0 {
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The replaced programs' links are gone: hdrlog holds those of the
	// last rules only (connect, sendto, accept4 at sys_exit; sys_enter).
	if n := rawTracepointLinks(t, r.cmd.Process.Pid); n != 4 {
		t.Errorf("hdrlog holds %d raw tracepoint links, want 4", n)
	}
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Fatalf("exit status %v:\n%s", st, r.errOut)
	}
	lines := r.lines(t)
	stderr := r.errOut.String()

	// Every call exactly once, for the kept rule and the changed one.
	for _, rule := range []string{"kept", "changed"} {
		count := map[int]int{}
		shapes := map[bool]int{}
		for _, ev := range find(lines, rule) {
			count[int(ev["fd.sport"].(float64))-20000]++
			_, withRes := ev["evt.res"]
			shapes[withRes]++
		}
		var bad []string
		for i := 0; i < calls; i++ {
			if count[i] != 1 {
				bad = append(bad, fmt.Sprintf("#%d logged %d times", i, count[i]))
			}
		}
		if len(bad) > 0 || len(count) != calls {
			t.Errorf("rule %s: %d calls logged, want %d; %d wrong: %.10v", rule, len(count), calls, len(bad), bad)
		}
		if rule == "changed" && (shapes[false] < 100 || shapes[true] < 100) {
			t.Errorf("rule changed: %d events in the old shape, %d in the new; want both", shapes[false], shapes[true])
		}
	}
	// The call under way across both reloads.
	if ev := find(lines, "acc"); len(ev) != 1 || ev[0]["fd.cport"] != float64(cport) || ev[0]["evt.res"] != "SUCCESS" {
		t.Errorf("acc: %v, want one event with fd.cport %d", ev, cport)
	}
	if ev := find(lines, "added"); len(ev) != 1 || ev[0]["fd.sport"] != float64(9) {
		t.Errorf("added: %v", ev)
	}
	if ev := find(lines, "removed"); len(ev) != 1 {
		// The listener's bind, before the first reload.
		t.Errorf("removed: %v, want the listener's bind", ev)
	}
	recs := reloadRecords(r.out.String())
	for i, w := range []string{
		`"reload":"done","generation":1,"rules":4,"added":["added"],"changed":["changed"],"removed":[{"rule":"removed","hook":"syscall bind","events":1,"lost":0}]`,
		`"reload":"done","generation":2,"rules":4,"added":[],"changed":[],"removed":[]`,
	} {
		if i >= len(recs) || !strings.Contains(recs[i], w) {
			t.Errorf("reload record %d: %v, want …%s…", i, recs, w)
		}
	}
	// The totals go on across the reloads.
	for _, re := range []string{
		fmt.Sprintf(`(?m)^kept +syscall connect +%d +0$`, calls),
		fmt.Sprintf(`(?m)^changed +syscall connect +%d +0$`, calls),
		`(?m)^acc +syscall accept4 +1 +0$`,
		`(?m)^removed +syscall bind +1 +0$`,
		`hdrlog: attached .*sys_exit syscall sendto`,
	} {
		if !regexp.MustCompile(re).MatchString(stderr) {
			t.Errorf("stderr lacks %s:\n%s", re, stderr)
		}
	}
	if strings.Contains(r.out.String(), `"total_lost"`) {
		t.Errorf("events were lost:\n%s", stderr)
	}
}

// rawTracepointLinks counts the raw tracepoint links a process holds.
func rawTracepointLinks(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fdinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err == nil && strings.Contains(string(b), "link_type:\traw_tracepoint") {
			n++
		}
	}
	return n
}

package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/runtime"
)

// shellServer is an HTTP server (python's http.server) that runs, for
// GET /sh, `sh -c 'echo $$'` and answers the shell's pid; for GET /id, the
// id program (not a shell). It names itself httpd, as a web server's
// process is named.
const shellServer = `
import http.server, subprocess, sys
open("/proc/self/comm", "w").write(sys.argv[1])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/sh":
            out = subprocess.run(["/bin/sh", "-c", "echo $$"], capture_output=True).stdout
        else:
            out = subprocess.run(["/usr/bin/id", "-u"], capture_output=True).stdout
        self.send_response(200); self.end_headers(); self.wfile.write(out)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
`

// examples/rules/shell_by_service.rules, run as it is: a python HTTP
// server named httpd, in a cgroup of its own, spawns sh -c for a request;
// the event names the shell's pid (as the shell itself printed it), sh,
// its parent httpd, and the server's cgroup. The same server spawning a
// program that is no shell, and a process that is no server spawning sh,
// are not events.
func TestRunShellByServiceExample(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		if kerneltest.InCI() {
			t.Fatal("no /usr/bin/python3 (make test-deps installs it)")
		}
		t.Skip("no /usr/bin/python3")
	}
	root, err := runtime.CgroupRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(root, "hdrlog-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dir) })
	cg, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}

	r := startRunHere(t, "--poll-interval", "5ms", filepath.Join(repoRoot, "examples", "rules", "shell_by_service.rules"))

	// start runs the server under a name, in the cgroup; it returns the
	// base URL.
	start := func(name string) (string, *exec.Cmd) {
		srv := exec.Command("/usr/bin/python3", "-c", shellServer, name)
		srv.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
		out, err := srv.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		srv.Stderr = os.Stderr
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
		port, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatalf("server %s: %v", name, err)
		}
		return "http://127.0.0.1:" + strings.TrimSpace(port), srv
	}
	get := func(url string) string {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	web, srv := start("httpd")
	other, _ := start("hl_notaserver")
	get(web + "/id")                // a server, no shell
	notServed := get(other + "/sh") // a shell, its parent no server
	shPid := get(web + "/sh")

	var ev map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for ev == nil && time.Now().Before(deadline) {
		for _, l := range find(r.lines(t), "shell_by_service") {
			if fmt.Sprint(l["proc.pid"]) == shPid {
				ev = l
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ev == nil {
		t.Fatalf("no event for the shell (pid %s) of httpd:\n%s\n%s", shPid, r.out, r.errOut)
	}
	want := map[string]any{"proc.name": "sh", "proc.pname": "httpd", "evt.arg.filename": "/bin/sh", "proc.args": "-c echo $$",
		"user.uid": 0, "cgroup.id": st.Ino, "container.id": "host", "evt.res": "SUCCESS", "hook": "syscall execve"}
	for k, v := range want {
		if fmt.Sprint(ev[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v (event %v)", k, ev[k], v, ev)
		}
	}
	// Events come in order: the ones before the shell's are all there.
	for _, l := range find(r.lines(t), "shell_by_service") {
		if fmt.Sprint(l["proc.pid"]) == notServed || l["proc.pname"] == "hl_notaserver" || l["proc.name"] == "id" {
			t.Errorf("an event that is no shell of a server: %v", l)
		}
		if l["proc.pname"] == "httpd" && fmt.Sprint(l["proc.pid"]) != shPid {
			t.Errorf("another event of httpd: %v", l)
		}
	}
	t.Logf("server pid %d; event %v", srv.Process.Pid, ev)
}

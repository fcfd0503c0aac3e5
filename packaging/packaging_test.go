package packaging

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The three capabilities hdrlog run needs, and nothing else.
var theThree = []string{"BPF", "NET_ADMIN", "PERFMON"}

var hdrlogBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hdrlog-packaging")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hdrlogBin = filepath.Join(dir, "hdrlog")
	build := exec.Command("go", "build", "-o", hdrlogBin, "./cmd/hdrlog")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building hdrlog: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runFlags are the flags `hdrlog run` knows, from its help.
func runFlags(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command(hdrlogBin, "help", "run").Output()
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?(--[a-z-]+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if !flags["--watch"] || !flags["--all"] {
		t.Fatalf("hdrlog help run lists no --watch or --all:\n%s", out)
	}
	return flags
}

// checkArgs: a command line is `run`, flags hdrlog knows, and rule paths.
func checkArgs(t *testing.T, args []string) (paths []string) {
	t.Helper()
	flags := runFlags(t)
	if len(args) == 0 || args[0] != "run" {
		t.Fatalf("command line %q does not run hdrlog run", args)
	}
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "-") {
			name, _, _ := strings.Cut(a, "=")
			if !flags[name] {
				t.Errorf("flag %s is not a flag of hdrlog run", name)
			}
			continue
		}
		paths = append(paths, a)
	}
	return paths
}

// decodeStrict decodes one YAML document into v, refusing unknown fields.
func decodeStrict(t *testing.T, doc []byte, v any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		t.Fatalf("%v in\n%s", err, doc)
	}
}

func TestDaemonSet(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("kubernetes", "hdrlog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ds *appsv1.DaemonSet
	configMaps := map[string]*corev1.ConfigMap{}
	for _, doc := range bytes.Split(src, []byte("\n---\n")) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "Namespace":
			decodeStrict(t, doc, new(corev1.Namespace))
		case "ConfigMap":
			cm := new(corev1.ConfigMap)
			decodeStrict(t, doc, cm)
			configMaps[cm.Name] = cm
		case "DaemonSet":
			ds = new(appsv1.DaemonSet)
			decodeStrict(t, doc, ds)
		default:
			t.Errorf("unexpected kind %q", meta.Kind)
		}
	}
	if ds == nil {
		t.Fatal("no DaemonSet")
	}
	pod := ds.Spec.Template.Spec
	if !pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Errorf("hostNetwork %v, hostPID %v, hostIPC %v; want the host's network only", pod.HostNetwork, pod.HostPID, pod.HostIPC)
	}
	if ds.Spec.Selector == nil || ds.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != ds.Spec.Template.Labels["app.kubernetes.io/name"] {
		t.Errorf("the selector does not select the pods")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.Privileged == nil || *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil {
		t.Fatalf("security context %+v: want not privileged, no privilege escalation, a read-only root", sc)
	}
	var add []string
	for _, c := range sc.Capabilities.Add {
		add = append(add, string(c))
	}
	sort.Strings(add)
	if !slices.Equal(add, theThree) || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("capabilities add %v drop %v; want add %v, drop ALL", add, sc.Capabilities.Drop, theThree)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit", r)
		}
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s is a host path", v.Name)
		}
	}

	// The rules: --watch on the mount of the ConfigMap, whose files are a
	// rule set hdrlog accepts.
	args := append(append([]string(nil), c.Command...), c.Args...)
	paths := checkArgs(t, args)
	if !slices.Contains(args, "--watch") {
		t.Errorf("args %q: no --watch, ConfigMap changes would not reload the rules", args)
	}
	if !slices.Contains(args, "--all") {
		t.Errorf("args %q: no --all", args)
	}
	for _, p := range paths {
		var cm *corev1.ConfigMap
		for _, m := range c.VolumeMounts {
			if m.MountPath != p {
				continue
			}
			for _, v := range pod.Volumes {
				if v.Name == m.Name && v.ConfigMap != nil {
					cm = configMaps[v.ConfigMap.Name]
				}
			}
		}
		if cm == nil {
			t.Fatalf("rule path %s is not the mount of a ConfigMap of the manifest", p)
		}
		if cm.Namespace != ds.Namespace {
			t.Errorf("ConfigMap in namespace %q, DaemonSet in %q", cm.Namespace, ds.Namespace)
		}
		dir := t.TempDir()
		for name, text := range cm.Data {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out, err := exec.Command(hdrlogBin, "check", "--strict", "--no-kernel", dir).CombinedOutput()
		if err != nil {
			t.Errorf("the ConfigMap's rules: %v\n%s", err, out)
		}
	}
	// Metrics, where hdrlog serves them: the port is declared.
	if addr := flagValue(args, "--metrics-addr"); addr != "" {
		_, port, _ := strings.Cut(addr, ":")
		found := false
		for _, p := range c.Ports {
			found = found || fmt.Sprint(p.ContainerPort) == port
		}
		if !found {
			t.Errorf("--metrics-addr %s but no container port %s", addr, port)
		}
	}
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// unitSettings reads a systemd unit: key -> values (in order).
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]string{}
	for _, l := range strings.Split(string(src), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("%s: line %q", path, l)
		}
		m[k] = append(m[k], v)
	}
	return m
}

func TestSystemdUnit(t *testing.T) {
	path := filepath.Join("systemd", "hdrlog.service")
	u := unitSettings(t, path)
	for _, k := range []string{"AmbientCapabilities", "CapabilityBoundingSet"} {
		caps := strings.Fields(strings.Join(u[k], " "))
		sort.Strings(caps)
		if !slices.Equal(caps, []string{"CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"}) {
			t.Errorf("%s = %v; want exactly CAP_BPF CAP_NET_ADMIN CAP_PERFMON", k, caps)
		}
	}
	for k, want := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateDevices": "yes",
		"ExecReload": "/bin/kill -HUP $MAINPID",
	} {
		if got := strings.Join(u[k], " "); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	exec0 := strings.Fields(strings.Join(u["ExecStart"], " "))
	if len(exec0) < 2 || filepath.Base(exec0[0]) != "hdrlog" {
		t.Fatalf("ExecStart %q", exec0)
	}
	checkArgs(t, exec0[1:])

	// systemd's own checks, with the binary where ExecStart says.
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not found: the unit is checked by the assertions above only")
		return
	}
	src, _ := os.ReadFile(path)
	dir := t.TempDir()
	unit := filepath.Join(dir, "hdrlog.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(src, []byte(exec0[0]), []byte(hdrlogBin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	var problems []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "hdrlog.service") {
			problems = append(problems, l)
		}
	}
	if err != nil || len(problems) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	t.Logf("systemd-analyze verify: %s", out)
}

func TestDockerfile(t *testing.T) {
	src, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(string(src), -1)
	if len(froms) < 2 {
		t.Fatalf("want a build stage and a final stage, found FROM %v", froms)
	}
	if base := froms[len(froms)-1][1]; base != "scratch" && !strings.HasPrefix(base, "gcr.io/distroless/static") {
		t.Errorf("final stage FROM %s; want a static base (scratch, distroless/static)", base)
	}
	if !regexp.MustCompile(`(?m)^RUN CGO_ENABLED=0 go build .*-X main.version=`).Match(src) {
		t.Errorf("the binary is not built static (CGO_ENABLED=0) with its version stamped")
	}
	m := regexp.MustCompile(`(?m)^CMD \[(.*)\]`).FindSubmatch(src)
	if m == nil {
		t.Fatal("no CMD")
	}
	var args []string
	for _, a := range strings.Split(string(m[1]), ",") {
		args = append(args, strings.Trim(strings.TrimSpace(a), `"`))
	}
	checkArgs(t, args)
}

package runtime

import "testing"

// TestContainerID: the container id in the cgroup layouts of the common
// runtimes, and "host" elsewhere.
func TestContainerID(t *testing.T) {
	const id = "3f2c1b0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b"
	for _, c := range []struct{ layout, path, want string }{
		{"docker, systemd driver", "/system.slice/docker-" + id + ".scope", "3f2c1b0a9e8d"},
		{"docker, cgroupfs driver", "/docker/" + id, "3f2c1b0a9e8d"},
		{"kubernetes, containerd, systemd driver", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f6c1d2e_8a4b_4c3d_9e2f_1a2b3c4d5e6f.slice/cri-containerd-" + id + ".scope", "3f2c1b0a9e8d"},
		{"kubernetes, cgroupfs driver", "/kubepods/burstable/pod0f6c1d2e-8a4b-4c3d-9e2f-1a2b3c4d5e6f/" + id, "3f2c1b0a9e8d"},
		{"CRI-O", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podabc.slice/crio-" + id + ".scope", "3f2c1b0a9e8d"},
		{"podman, root", "/machine.slice/libpod-" + id + ".scope", "3f2c1b0a9e8d"},
		{"podman, rootless", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id + ".scope", "3f2c1b0a9e8d"},
		{"podman, a process under the container's own cgroups", "/machine.slice/libpod-" + id + ".scope/container", "3f2c1b0a9e8d"},
		{"podman's monitor", "/machine.slice/libpod-conmon-" + id + ".scope", "host"},
		{"a systemd service", "/system.slice/nginx.service", "host"},
		{"a user session", "/user.slice/user-1000.slice/session-3.scope", "host"},
		{"the root", "/", "host"},
		{"63 hex digits", "/docker/" + id[:63], "host"},
		{"upper-case hex", "/docker/3F2C1B0A9E8D7C6B5A4F3E2D1C0B9A8F7E6D5C4B3A2F1E0D9C8B7A6F5E4D3C2B", "host"},
	} {
		if got := ContainerID(c.path); got != c.want {
			t.Errorf("%s: %s: %q, want %q", c.layout, c.path, got, c.want)
		}
	}
}

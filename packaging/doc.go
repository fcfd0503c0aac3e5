// Package packaging holds hdrlog's service files (a systemd unit, a
// container image recipe, a Kubernetes DaemonSet) and the tests that check
// them. It is a module of its own so that the Kubernetes API types its
// tests decode the manifests with stay out of hdrlog's dependencies.
package packaging

package runtime

import (
	"regexp"
	"strings"
)

// proc.args: the arguments an execve event carries, NUL-separated as the
// kernel copied them, are written space-separated, with their secrets
// redacted before any output sees them (docs/syscalls.md lists what is
// redacted). The kernel has copied them already: redaction keeps them out
// of the events, the files and the collectors hdrlog writes to.

const redacted = "[redacted]"

// secretName matches the names of options and variables that hold a
// secret: --password, --db-passwd, --api-key, --token, MYSQL_PWD...
var secretName = regexp.MustCompile(`(?i)(passw(or)?d|passwd|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credential|auth)`)

// urlUserinfo matches the password of a URL's userinfo: scheme://user:PASSWORD@
var urlUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:)[^/@\s]*@`)

// inlineSecret matches an option with a secret value inside a longer
// argument (a shell script given to sh -c): --password=VALUE.
var inlineSecret = regexp.MustCompile(`(?i)(--?[A-Za-z0-9_-]*(?:passw(?:or)?d|passwd|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credential|auth)[A-Za-z0-9_-]*=)[^\s'"]+`)

// varName is the name of a NAME=VALUE argument.
var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// userFlags take user:password as their value (curl -u, --user; wget
// --http-user is a name only).
var userFlags = map[string]bool{"-u": true, "--user": true, "--proxy-user": true, "-U": true}

// RedactArgs turns the kernel's NUL-separated arguments into the
// space-separated, redacted proc.args.
func RedactArgs(raw []byte) string {
	s := strings.TrimRight(string(raw), "\x00")
	if s == "" {
		return ""
	}
	args := strings.Split(s, "\x00")
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case strings.HasPrefix(strings.ToLower(a), "authorization:"):
			args[i] = a[:len("authorization:")] + " " + redacted
			continue
		case strings.HasPrefix(a, "-") && strings.Contains(a, "="):
			// --password=VALUE
			name := a[:strings.IndexByte(a, '=')]
			if secretName.MatchString(name) {
				args[i] = name + "=" + redacted
				continue
			}
		case strings.HasPrefix(a, "-") && secretName.MatchString(a) && i+1 < len(args):
			// --password VALUE
			args[i+1] = redacted
			i++
			continue
		case userFlags[a] && i+1 < len(args):
			if user, _, ok := strings.Cut(args[i+1], ":"); ok {
				args[i+1] = user + ":" + redacted
			}
			i++
			continue
		case !strings.HasPrefix(a, "-") && strings.Contains(a, "="):
			// NAME=VALUE (env, make, helm --set values)
			name := a[:strings.IndexByte(a, '=')]
			if varName.MatchString(name) && secretName.MatchString(name) {
				args[i] = name + "=" + redacted
				continue
			}
		}
		a = urlUserinfo.ReplaceAllString(a, "${1}"+redacted+"@")
		args[i] = inlineSecret.ReplaceAllString(a, "${1}"+redacted)
	}
	return strings.Join(args, " ")
}

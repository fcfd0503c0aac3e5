# Shells started by network services: an execve(2) of a shell whose parent
# is a server program (web and application servers, databases). A web shell
# or a command injection starts this way; a server's own scripts may too
# (review the events, then narrow the rule).
#   sudo hdrlog run examples/hcl/shell_by_service.hcl
#
# proc.name is the new program's command name (the shell's, whatever its
# path); proc.pname is its parent's: the service that ran it. A server's
# workers are usually its own children with its name.

rule "shell_by_service" {
  hook  = "syscall execve"
  match = <<-EOT
    proc.name in {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "fish", "tcsh", "csh"}
    && proc.pname in {"nginx", "httpd", "apache2", "lighttpd", "caddy", "php-fpm", "php-fpm8.2", "uwsgi", "gunicorn", "node", "java", "tomcat", "mysqld", "postgres", "redis-server"}
  EOT
  log   = ["proc.pid", "proc.name", "proc.pname", "user.uid", "cgroup.id", "container.id", "evt.arg.filename", "proc.args", "evt.res"]
}

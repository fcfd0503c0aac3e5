package runtime

import "testing"

// TestRedactArgs: the secrets of execve arguments that proc.args redacts,
// and what it keeps.
func TestRedactArgs(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{"-c\x00echo hi\x00", "-c echo hi"},
		{"--password=hunter2\x00-h\x00db\x00", "--password=[redacted] -h db"},
		{"--db-passwd=x\x00--api-key=k\x00--token=t\x00--client-secret=s\x00", "--db-passwd=[redacted] --api-key=[redacted] --token=[redacted] --client-secret=[redacted]"},
		{"--password\x00hunter2\x00--port\x005432\x00", "--password [redacted] --port 5432"},
		{"-u\x00alice:hunter2\x00https://example.org\x00", "-u alice:[redacted] https://example.org"},
		{"-u\x00alice\x00", "-u alice"},
		{"https://alice:hunter2@example.org/x\x00", "https://alice:[redacted]@example.org/x"},
		{"postgres://app:pw@db:5432/app\x00", "postgres://app:[redacted]@db:5432/app"},
		{"-H\x00Authorization: Bearer abc\x00", "-H Authorization: [redacted]"},
		{"MYSQL_PWD=x\x00AWS_SECRET_ACCESS_KEY=y\x00PATH=/bin\x00", "MYSQL_PWD=[redacted] AWS_SECRET_ACCESS_KEY=[redacted] PATH=/bin"},
		{"--port=8080\x00-v\x00", "--port=8080 -v"},
		{"-c\x00mysql -uroot --password=hunter2 db; echo done\x00", "-c mysql -uroot --password=[redacted] db; echo done"},
		{"", ""},
	} {
		if got := RedactArgs([]byte(c.raw)); got != c.want {
			t.Errorf("%q: %q, want %q", c.raw, got, c.want)
		}
	}
}

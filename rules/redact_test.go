package rules

import "testing"

// TestMaskURL: the masking the kernel does (compiler/l7_mask.go), in Go;
// the kernel's is compared with it in compiler's TestKernelL7Redaction and
// runtime's TestAdversarialHTTPCorpus.
func TestMaskURL(t *testing.T) {
	secret := QueryHashes(append(append([]string(nil), SecretQuery...), "otp"))
	for _, c := range []struct{ in, want string }{
		{"/", "/"},
		{"/p?a=1&token=S&b=2", "/p?a=1&token=[redacted]&b=2"},
		{"/p?TOKEN=S", "/p?TOKEN=[redacted]"},
		{"/p?api-key=S;x=1&b=2", "/p?api-key=[redacted]&b=2"},
		{"/p?a=1;password=S", "/p?a=1;password=[redacted]"},
		{"/p?tokens=S&mytoken=S", "/p?tokens=S&mytoken=S"},
		{"/p?token", "/p?token"},
		{"/p?token=", "/p?token="},
		{"/p?x&otp=1234#frag", "/p?x&otp=[redacted]#frag"},
		{"/p#?token=S", "/p#?token=S"},
		{"/p?a=b?token=S", "/p?a=b?token=S"},
		{"/p?a==token=S", "/p?a==token=S"},
		{"http://u:p@h/x", "http://[redacted]@h/x"},
		{"HTTPS://u@h", "HTTPS://[redacted]@h"},
		{"http://a@b@h:80/x?sig=1", "http://[redacted]@h:80/x?sig=[redacted]"},
		{"http://h/a@b", "http://h/a@b"},
		{"http://@h/", "http://@h/"},
		{"svn+ssh://u:p@h", "svn+ssh://[redacted]@h"},
		{"1http://u:p@h/", "1http://u:p@h/"},
		{"mailto:a@b", "mailto:a@b"},
		{"//u:p@h/", "//u:p@h/"},
	} {
		if got := string(MaskedText(MaskURL([]byte(c.in), secret))); got != c.want {
			t.Errorf("MaskURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if QueryHash("Api-Key") != QueryHash("api_key") || QueryHash("token") == QueryHash("tokens") {
		t.Error("names compare case-insensitively with - and _ alike, and whole")
	}
}

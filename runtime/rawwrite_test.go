package runtime

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"
)

// With one processor, a raw write that blocked on a full pipe would keep the
// reading goroutine from ever running: the test would hang. rawWriter must
// hand full pipes to the file's own Write.
func TestRawWriterPipeNeverBlocksTheRuntime(t *testing.T) {
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(1))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := directOutput(w)
	rw, ok := out.(*rawWriter)
	if !ok || !rw.pipe {
		t.Fatalf("directOutput(pipe) = %T, want a rawWriter for a pipe", out)
	}
	want := make([]byte, 4<<20)
	for i := range want {
		want[i] = byte(i * 7)
	}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	for off := 0; off < len(want); off += 48 << 10 {
		if _, err := out.Write(want[off:min(off+48<<10, len(want))]); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("read %d bytes back, want the %d written", len(b), len(want))
	}
}

func TestRawWriterKinds(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := directOutput(f).(*rawWriter); !ok {
		t.Error("a regular file should get raw writes")
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if _, ok := directOutput(null).(*rawWriter); !ok {
		t.Error("/dev/null should get raw writes")
	}
	var buf bytes.Buffer
	if directOutput(&buf) != io.Writer(&buf) {
		t.Error("a writer that is not a file must be used as it is")
	}
	if _, err := directOutput(f).Write([]byte("line\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f.Name()); string(b) != "line\n" {
		t.Errorf("file holds %q", b)
	}
}

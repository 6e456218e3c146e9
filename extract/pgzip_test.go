package extract

import (
	"bytes"
	"compress/gzip"
	"io"
	"math/rand"
	"runtime"
	"testing"
)

// The parallel compressor gives the same bytes whatever the number of
// CPUs, and a stream any gzip reader decompresses.
func TestPgzipDeterministic(t *testing.T) {
	data := make([]byte, 5*pgzipBlockSize+12345)
	rng := rand.New(rand.NewSource(7))
	for i := range data {
		data[i] = "abcdefgh  \n"[rng.Intn(11)]
	}
	compress := func(procs int) []byte {
		old := runtime.GOMAXPROCS(procs)
		defer runtime.GOMAXPROCS(old)
		var out bytes.Buffer
		w, err := newPgzipWriter(&out, gzip.BestSpeed)
		if err != nil {
			t.Fatal(err)
		}
		// Odd write sizes, so blocks are filled across writes.
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+rng.Intn(300000))
			if _, err := w.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	one, four := compress(1), compress(4)
	if !bytes.Equal(one, four) {
		t.Fatalf("output depends on GOMAXPROCS")
	}
	r, err := gzip.NewReader(bytes.NewReader(one))
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(back, data) {
		t.Fatalf("round trip: %v, %d bytes of %d", err, len(back), len(data))
	}
}

type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n--; f.n < 0 {
		return 0, io.ErrShortWrite
	}
	return len(p), nil
}

func TestPgzipWriteError(t *testing.T) {
	w, err := newPgzipWriter(&failingWriter{n: 1}, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, pgzipBlockSize)
	for i := 0; i < 8; i++ {
		w.Write(buf)
	}
	if err := w.Close(); err != io.ErrShortWrite {
		t.Errorf("Close = %v, want the writer's error", err)
	}
}

package extract

import (
	"bytes"
	"compress/gzip"
	"io"
	"runtime"
	"sync"
)

// pgzipWriter compresses a stream on every CPU: the stream is cut into
// blocks of a fixed size and each block becomes one gzip member, written in
// order. Concatenated members are one valid gzip stream (RFC 1952), and
// since the cuts fall at fixed offsets and every member is compressed the
// same way, the same input always gives the same bytes.
type pgzipWriter struct {
	w         io.Writer
	level     int
	blockSize int

	buf     []byte
	jobs    chan *pgzipBlock
	order   chan *pgzipBlock
	done    chan struct{}
	wg      sync.WaitGroup
	pool    sync.Pool // input blocks
	outPool sync.Pool // compressed blocks

	mu     sync.Mutex
	err    error
	closed sync.Once
}

type pgzipBlock struct {
	in    []byte
	out   *bytes.Buffer
	ready chan struct{}
	err   error
}

const pgzipBlockSize = 1 << 20

func newPgzipWriter(w io.Writer, level int) (*pgzipWriter, error) {
	if _, err := gzip.NewWriterLevel(io.Discard, level); err != nil {
		return nil, err
	}
	workers := runtime.GOMAXPROCS(0)
	p := &pgzipWriter{
		w: w, level: level, blockSize: pgzipBlockSize,
		jobs:  make(chan *pgzipBlock, workers),
		order: make(chan *pgzipBlock, 2*workers),
		done:  make(chan struct{}),
	}
	p.pool.New = func() any { b := make([]byte, 0, pgzipBlockSize); return &b }
	p.outPool.New = func() any { return new(bytes.Buffer) }
	for i := 0; i < workers; i++ {
		p.wg.Add(1)
		go p.compress()
	}
	go p.write()
	return p, nil
}

func (p *pgzipWriter) compress() {
	defer p.wg.Done()
	var zw *gzip.Writer
	for b := range p.jobs {
		b.out = p.outPool.Get().(*bytes.Buffer)
		b.out.Reset()
		if zw == nil {
			zw, _ = gzip.NewWriterLevel(b.out, p.level)
		} else {
			zw.Reset(b.out)
		}
		if _, err := zw.Write(b.in); err != nil {
			b.err = err
		} else {
			b.err = zw.Close()
		}
		in := b.in[:0]
		p.pool.Put(&in)
		b.in = nil
		close(b.ready)
	}
}

func (p *pgzipWriter) write() {
	defer close(p.done)
	for b := range p.order {
		<-b.ready
		err := b.err
		if err == nil && p.failed() == nil {
			_, err = p.w.Write(b.out.Bytes())
		}
		p.outPool.Put(b.out)
		b.out = nil
		if err != nil {
			p.fail(err)
		}
	}
}

func (p *pgzipWriter) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *pgzipWriter) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *pgzipWriter) submit() {
	b := &pgzipBlock{in: p.buf, ready: make(chan struct{})}
	p.buf = nil
	p.order <- b
	p.jobs <- b
}

// Write buffers data and hands full blocks to the compressors.
func (p *pgzipWriter) Write(data []byte) (int, error) {
	if err := p.failed(); err != nil {
		return 0, err
	}
	n := len(data)
	for len(data) > 0 {
		if p.buf == nil {
			p.buf = *p.pool.Get().(*[]byte)
		}
		k := min(p.blockSize-len(p.buf), len(data))
		p.buf = append(p.buf, data[:k]...)
		data = data[k:]
		if len(p.buf) == p.blockSize {
			p.submit()
		}
	}
	return n, nil
}

// Close compresses what is left and waits for everything to be written.
// It may be called again (deferred, on an error path); later calls only
// return the error.
func (p *pgzipWriter) Close() error {
	p.closed.Do(func() {
		if len(p.buf) > 0 {
			p.submit()
		}
		close(p.jobs)
		close(p.order)
		p.wg.Wait()
		<-p.done
	})
	return p.failed()
}

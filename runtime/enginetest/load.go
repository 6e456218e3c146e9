package enginetest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Load sends GET requests to a URL from several goroutines until it is
// stopped: a 200 answer counts as OK (and its body in Seen), anything else
// (another status, an error, no answer within the timeout) as Failed.
type Load struct {
	OK, Failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	seen       map[string]int
	stop       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
}

// StartLoad starts workers goroutines asking url one request after
// another, each answer awaited for at most timeout.
func StartLoad(url string, workers int, timeout time.Duration) *Load {
	l := &Load{stop: make(chan struct{}), seen: map[string]int{}}
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for range max(workers, 1) {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := c.Get(url)
				if err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 {
						l.OK.Add(1)
						l.mu.Lock()
						l.seen[strings.TrimSpace(string(body))]++
						l.mu.Unlock()
						continue
					}
					err = fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, strings.TrimSpace(string(body)))
				}
				l.Failed.Add(1)
				l.mu.Lock()
				if len(l.errs) < 10 {
					l.errs = append(l.errs, err.Error())
				}
				l.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	return l
}

// Stop ends the load, waits for the requests in flight and returns the
// counts and the first ten failures.
func (l *Load) Stop() (ok, failed int64, errs []string) {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
	return l.OK.Load(), l.Failed.Load(), l.Errs()
}

// Errs are the first ten failures.
func (l *Load) Errs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errs...)
}

// Seen counts the bodies of the 200 answers.
func (l *Load) Seen() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.seen))
	for k, v := range l.seen {
		out[k] = v
	}
	return out
}

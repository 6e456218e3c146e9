package controlplane

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/hoistctl/hoist/runtime/api"
	"github.com/hoistctl/hoist/runtime/store"
)

// listen opens the control plane's socket (0600) and serves it. A socket
// file that disappears while the control plane runs (removed by hand, or
// by a tmpfs cleaner under /run) is made again within a second: without
// it every hoist command would wait minutes for an engine that runs.
func (c *Controller) listen() (io.Closer, error) {
	srv := &http.Server{Handler: c.routes(), ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return c.ctx }}
	ln, fi, err := c.listenSocket()
	if err != nil {
		return nil, err
	}
	go func() { _ = srv.Serve(ln) }()
	go c.keepSocket(srv, ln, fi)
	return srv, nil
}

// listenSocket makes the socket file and returns its listener and what
// the file was when made.
func (c *Controller) listenSocket() (*net.UnixListener, os.FileInfo, error) {
	_ = os.Remove(c.o.Socket)
	ln, err := net.Listen("unix", c.o.Socket)
	if err != nil {
		return nil, nil, fmt.Errorf("control plane socket %s: %w", c.o.Socket, err)
	}
	if err := os.Chmod(c.o.Socket, 0o600); err != nil {
		ln.Close()
		return nil, nil, err
	}
	fi, err := os.Lstat(c.o.Socket)
	if err != nil {
		ln.Close()
		return nil, nil, err
	}
	return ln.(*net.UnixListener), fi, nil
}

// keepSocket makes the socket again when its file is gone or is no longer
// the one this control plane listens on.
func (c *Controller) keepSocket(srv *http.Server, ln *net.UnixListener, made os.FileInfo) {
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(time.Second):
		}
		if fi, err := os.Lstat(c.o.Socket); err == nil && os.SameFile(fi, made) {
			continue
		}
		if c.ctx.Err() != nil {
			return // shutting down: the server's Close removed it
		}
		nln, nfi, err := c.listenSocket()
		if err != nil {
			c.o.Logf("control plane: making the socket %s again: %v", c.o.Socket, err)
			continue
		}
		// The old listener's file is gone: closing it must not remove
		// the new one.
		ln.SetUnlinkOnClose(false)
		ln.Close()
		ln, made = nln, nfi
		c.o.Logf("control plane: socket %s was gone; made it again", c.o.Socket)
		go func() { _ = srv.Serve(nln) }()
	}
}

func (c *Controller) routes() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, r *http.Request) { reply(w, map[string]string{"status": "ok"}, nil) })
	m.HandleFunc("POST /v1/task-definitions", func(w http.ResponseWriter, r *http.Request) {
		var td api.TaskDefinition
		if !decode(w, r, &td) {
			return
		}
		out, err := c.registerTaskDefinition(&td)
		reply(w, out, err)
	})
	m.HandleFunc("GET /v1/task-definitions", func(w http.ResponseWriter, r *http.Request) {
		out, err := store.List[api.TaskDefinition](c.st, store.TaskDefs)
		reply(w, out, err)
	})
	m.HandleFunc("GET /v1/task-definitions/{ref}", func(w http.ResponseWriter, r *http.Request) {
		out, err := c.taskDefinition(r.PathValue("ref"))
		reply(w, out, err)
	})
	m.HandleFunc("PUT /v1/services/{name}", c.ready2(func(w http.ResponseWriter, r *http.Request) {
		var s api.Service
		if !decode(w, r, &s) {
			return
		}
		if s.ServiceName == "" {
			s.ServiceName = r.PathValue("name")
		}
		if s.ServiceName != r.PathValue("name") {
			reply(w, nil, fmt.Errorf("%w: serviceName %q differs from the path's %q", api.ErrInvalid, s.ServiceName, r.PathValue("name")))
			return
		}
		out, err := c.applyService(r.Context(), &s)
		reply(w, out, err)
	}))
	m.HandleFunc("GET /v1/services", c.ready2(func(w http.ResponseWriter, r *http.Request) { reply(w, orEmpty(c.listServices()), nil) }))
	m.HandleFunc("GET /v1/services/{name}", c.ready2(func(w http.ResponseWriter, r *http.Request) {
		out, err := c.describeService(r.PathValue("name"))
		reply(w, out, err)
	}))
	m.HandleFunc("DELETE /v1/services/{name}", c.ready2(func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, c.deleteService(r.Context(), r.PathValue("name")))
	}))
	m.HandleFunc("POST /v1/services/{name}/scale", c.ready2(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			DesiredCount *int `json:"desiredCount"`
		}
		if !decode(w, r, &in) {
			return
		}
		if in.DesiredCount == nil {
			reply(w, nil, fmt.Errorf("%w: desiredCount is required", api.ErrInvalid))
			return
		}
		out, err := c.scale(r.PathValue("name"), *in.DesiredCount)
		reply(w, out, err)
	}))
	m.HandleFunc("GET /v1/tasks", c.ready2(func(w http.ResponseWriter, r *http.Request) {
		out, err := c.listTasks(r.URL.Query().Get("service"), r.URL.Query().Get("stopped") != "")
		reply(w, orEmpty(out), err)
	}))
	m.HandleFunc("GET /v1/tasks/{id}", c.ready2(func(w http.ResponseWriter, r *http.Request) {
		out, err := c.findTask(r.PathValue("id"))
		reply(w, out, err)
	}))
	m.HandleFunc("POST /v1/tasks/{id}/stop", c.ready2(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Reason string `json:"reason"`
		}
		if !decode(w, r, &in) {
			return
		}
		out, err := c.stopTaskByID(r.PathValue("id"), in.Reason)
		reply(w, out, err)
	}))
	m.HandleFunc("POST /v1/run-task", c.ready2(func(w http.ResponseWriter, r *http.Request) {
		var in api.RunTaskInput
		if !decode(w, r, &in) {
			return
		}
		out, err := c.runTask(r.Context(), &in)
		reply(w, out, err)
	}))
	m.HandleFunc("PUT /v1/secrets/{name}", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Value string `json:"value"`
		}
		if !decode(w, r, &in) {
			return
		}
		name := r.PathValue("name")
		if err := api.ValidSecretName(name); err != nil {
			reply(w, nil, err)
			return
		}
		reply(w, nil, c.st.PutSecret(name, in.Value))
	})
	m.HandleFunc("GET /v1/secrets", func(w http.ResponseWriter, r *http.Request) {
		out, err := c.st.Keys(store.Secrets)
		reply(w, orEmpty(out), err)
	})
	m.HandleFunc("DELETE /v1/secrets/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, c.st.Delete(store.Secrets, r.PathValue("name")))
	})
	m.HandleFunc("PUT /v1/schedules/{name}", c.ready2(func(w http.ResponseWriter, r *http.Request) {
		var s api.Schedule
		if !decode(w, r, &s) {
			return
		}
		s.Name = r.PathValue("name")
		out, err := c.putSchedule(r.Context(), &s)
		reply(w, out, err)
	}))
	m.HandleFunc("GET /v1/schedules", func(w http.ResponseWriter, r *http.Request) {
		out, err := store.List[api.Schedule](c.st, store.Schedules)
		reply(w, orEmpty(out), err)
	})
	m.HandleFunc("DELETE /v1/schedules/{name}", func(w http.ResponseWriter, r *http.Request) {
		var s api.Schedule
		if err := c.st.Get(store.Schedules, r.PathValue("name"), &s); err != nil {
			reply(w, nil, fmt.Errorf("%w: schedule %q", api.ErrNotFound, r.PathValue("name")))
			return
		}
		reply(w, nil, c.st.Delete(store.Schedules, s.Name))
	})
	m.HandleFunc("POST /v1/webhooks", func(w http.ResponseWriter, r *http.Request) {
		var h api.Webhook
		if !decode(w, r, &h) {
			return
		}
		out, err := c.addWebhook(&h)
		reply(w, out, err)
	})
	m.HandleFunc("GET /v1/webhooks", func(w http.ResponseWriter, r *http.Request) {
		out, err := store.List[api.Webhook](c.st, store.Webhooks)
		reply(w, orEmpty(out), err)
	})
	m.HandleFunc("DELETE /v1/webhooks", func(w http.ResponseWriter, r *http.Request) {
		u := r.URL.Query().Get("url")
		var h api.Webhook
		if err := c.st.Get(store.Webhooks, u, &h); err != nil {
			reply(w, nil, fmt.Errorf("%w: webhook %q", api.ErrNotFound, u))
			return
		}
		reply(w, nil, c.st.Delete(store.Webhooks, u))
	})
	m.HandleFunc("GET /v1/events", c.events)
	m.HandleFunc("GET /v1/logs", c.ready2(c.logs))
	m.HandleFunc("POST /v1/purge", c.ready2(func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, c.purge(r.Context()))
	}))
	return m
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// ready2 holds a request until containerd is connected and tasks adopted.
func (c *Controller) ready2(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := c.waitReady(r.Context()); err != nil {
			reply(w, nil, err)
			return
		}
		h(w, r)
	}
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		reply(w, nil, fmt.Errorf("%w: request body: %v", api.ErrInvalid, err))
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		code, status := "Internal", http.StatusInternalServerError
		switch {
		case errors.Is(err, api.ErrInvalid):
			code, status = "InvalidParameter", http.StatusBadRequest
		case errors.Is(err, api.ErrNotFound):
			code, status = "NotFound", http.StatusNotFound
		case errors.Is(err, api.ErrConflict):
			code, status = "Conflict", http.StatusConflict
		case errors.Is(err, api.ErrUnavailable):
			code, status = "Unavailable", http.StatusServiceUnavailable
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(api.Error{Code: code, Message: err.Error()})
		return
	}
	if v == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

// events streams the event log as JSON lines: the stored events after
// ?since, then (with ?follow) each new one as it happens.
func (c *Controller) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, _ := strconv.ParseUint(q.Get("since"), 10, 64)
	service := q.Get("service")
	follow := q.Get("follow") != ""
	var ch chan api.Event
	if follow {
		ch = make(chan api.Event, 1024)
		c.mu.Lock()
		c.subs[ch] = struct{}{}
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			delete(c.subs, ch)
			c.mu.Unlock()
		}()
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	fl, _ := w.(http.Flusher)
	send := func(e api.Event) bool {
		since = e.Seq
		if service != "" && e.Service != service {
			return true
		}
		return enc.Encode(e) == nil
	}
	// catchUp sends stored events after since.
	catchUp := func() bool {
		for {
			evs, err := c.st.EventsSince(since, 1000)
			if err != nil {
				return false
			}
			for _, e := range evs {
				if !send(e) {
					return false
				}
			}
			if len(evs) < 1000 {
				return true
			}
		}
	}
	if !catchUp() {
		return
	}
	if fl != nil {
		fl.Flush()
	}
	if !follow {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case e := <-ch:
			if e.Seq <= since {
				continue
			}
			if e.Seq > since+1 {
				// Missed some (slow reader): read them from the log.
				if !catchUp() {
					return
				}
				continue
			}
			if !send(e) {
				return
			}
			fl.Flush()
		case <-time.After(2 * time.Second):
			// Events dropped for a slow reader are in the log.
			if !catchUp() {
				return
			}
			fl.Flush()
		}
	}
}

// logs writes the output of a task, or of every current task of a
// service (each line prefixed with the task ID). Following a task ends
// once the task has stopped and its output is written; following a
// service takes in the tasks it starts later and ends when the service
// is deleted.
func (c *Controller) logs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	target := q.Get("target")
	tail, _ := strconv.Atoi(q.Get("tail"))
	follow := q.Get("follow") != ""
	var ids []string
	c.mu.Lock()
	_, prefix := c.svcs[target]
	c.mu.Unlock()
	if prefix {
		ids = c.serviceTaskIDs(target)
	} else {
		t, err := c.findTask(target)
		if err != nil {
			reply(w, nil, fmt.Errorf("%w (nor is %q a service)", err, target))
			return
		}
		ids = []string{t.TaskID}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fl, _ := w.(http.Flusher)
	type reader struct {
		id  string
		f   *os.File
		rem []byte
	}
	var rs []*reader
	seen := map[string]bool{}
	// open starts reading a task's log; one not made yet is tried again
	// on the next round.
	open := func(id string) *reader {
		f, err := os.Open(c.logPath(id))
		if err != nil {
			return nil
		}
		seen[id] = true
		rd := &reader{id: id, f: f}
		rs = append(rs, rd)
		return rd
	}
	defer func() {
		for _, rd := range rs {
			rd.f.Close()
		}
	}()
	emit := func(rd *reader, data []byte) {
		if !prefix {
			_, _ = w.Write(data)
			return
		}
		data = append(rd.rem, data...)
		lines := strings.SplitAfter(string(data), "\n")
		rd.rem = []byte(lines[len(lines)-1])
		for _, l := range lines[:len(lines)-1] {
			fmt.Fprintf(w, "%s %s", rd.id[:12], l)
		}
	}
	for _, id := range ids {
		rd := open(id)
		if rd == nil {
			continue
		}
		if tail > 0 {
			emit(rd, tailLines(rd.f, tail))
		} else {
			data, _ := io.ReadAll(rd.f)
			emit(rd, data)
		}
	}
	if fl != nil {
		fl.Flush()
	}
	if !follow {
		return
	}
	buf := make([]byte, 32<<10)
	drain := func() {
		for _, rd := range rs {
			for {
				n, _ := rd.f.Read(buf)
				if n == 0 {
					break
				}
				emit(rd, buf[:n])
			}
		}
		if fl != nil {
			fl.Flush()
		}
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		// What ended is looked at before the last read, so output written
		// until the end is not lost.
		var ended bool
		if prefix {
			c.mu.Lock()
			_, ok := c.svcs[target]
			c.mu.Unlock()
			ended = !ok
			for _, id := range c.serviceTaskIDs(target) {
				if !seen[id] {
					open(id)
				}
			}
		} else {
			c.mu.Lock()
			_, live := c.tasks[ids[0]]
			c.mu.Unlock()
			ended = !live
			if !seen[ids[0]] {
				open(ids[0])
			}
		}
		drain()
		if ended {
			return
		}
	}
}

// serviceTaskIDs are the IDs of the service's current tasks, sorted.
func (c *Controller) serviceTaskIDs(service string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for _, t := range c.tasks {
		if t.ServiceName == service {
			ids = append(ids, t.TaskID)
		}
	}
	sort.Strings(ids)
	return ids
}

// tailLines returns the last n lines and leaves f at its end.
func tailLines(f *os.File, n int) []byte {
	data, _ := io.ReadAll(f)
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// purge stops every task at once, removes their containers, network
// namespaces, leases and port rules, the bridge and this network's
// iptables chains, and forgets all state.
func (c *Controller) purge(ctx context.Context) error {
	c.purging.Store(true)
	defer c.purging.Store(false)
	c.mu.Lock()
	for name, s := range c.svcs {
		if s.lb != nil {
			s.lb.Close()
			s.lb = nil
		}
		select {
		case <-s.deleted:
		default:
			close(s.deleted)
		}
		delete(c.svcs, name)
	}
	var ts []*rtask
	for _, t := range c.tasks {
		if t.DesiredStatus == api.StatusRunning {
			t.DesiredStatus = api.StatusStopped
			t.StopCode, t.StoppedReason = api.StopUserInitiated, "Runtime purged"
		}
		t.inLB = false
		ts = append(ts, t)
	}
	c.mu.Unlock()
	// Starts in flight finish (or notice the purge) first.
	c.launching.Wait()
	for _, t := range ts {
		c.mu.Lock()
		ctask := t.ctask
		c.mu.Unlock()
		if ctask != nil {
			_ = ctask.Kill(ctx, 9)
		}
	}
	for _, t := range ts {
		select {
		case <-t.done:
		case <-time.After(10 * time.Second):
			c.finalize(t, nil)
		}
	}
	var errs []error
	// Whatever containerd still holds in hoist's runtime.
	ctrs, err := c.cc.Containers(ctx, fmt.Sprintf("labels.%q", labelTask))
	if err == nil {
		for _, ctr := range ctrs {
			if tk, err := ctr.Task(ctx, nil); err == nil {
				_, _ = tk.Delete(ctx, containerd.WithProcessKill)
			}
			if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := SweepHost(c.o.StateDir, c.o.Bridge); err != nil {
		errs = append(errs, err)
	}
	_ = os.RemoveAll(filepath.Join(c.o.DataDir, "cni"))
	_ = os.RemoveAll(filepath.Join(c.o.DataDir, "runtime", "logs"))
	_ = os.MkdirAll(filepath.Join(c.o.DataDir, "runtime", "logs"), 0o700)
	_ = os.RemoveAll(filepath.Join(c.o.DataDir, "runtime", "volumes"))
	if err := c.st.Reset(); err != nil {
		errs = append(errs, err)
	}
	c.mu.Lock()
	c.net.mu.Lock()
	clear(c.net.ports)
	c.net.mu.Unlock()
	c.mu.Unlock()
	return errors.Join(errs...)
}

// addWebhook registers a loopback URL that receives every later event.
func (c *Controller) addWebhook(h *api.Webhook) (*api.Webhook, error) {
	u, err := url.Parse(h.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%w: webhook URL %q: an http:// URL is needed", api.ErrInvalid, h.URL)
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%w: webhook URL %q: the local runtime delivers events to loopback addresses only (127.0.0.1, ::1, localhost)", api.ErrInvalid, h.URL)
	}
	// New hooks start at the current end of the log.
	last, _ := c.lastSeq()
	h.Delivered = last
	if err := c.st.Put(store.Webhooks, h.URL, h); err != nil {
		return nil, err
	}
	return h, nil
}

func (c *Controller) lastSeq() (uint64, error) {
	var last uint64
	for {
		evs, err := c.st.EventsSince(last, 1000)
		if err != nil {
			return 0, err
		}
		if len(evs) == 0 {
			return last, nil
		}
		last = evs[len(evs)-1].Seq
	}
}

package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ErrUnavailable marks a control plane that does not answer.
var ErrUnavailable = errors.New("control plane unavailable")

// Client talks to the control plane over its unix socket.
type Client struct {
	Socket string
	hc     *http.Client
}

// NewClient returns a client for the control plane at socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns: 4,
	}
	return &Client{Socket: socket, hc: &http.Client{Transport: tr}}
}

// named refuses an empty name where a path names one object: the path
// would name none, and the server could only answer with a bare HTTP
// error.
func named(what, name string) error {
	if name == "" {
		return fmt.Errorf("%w: the %s is empty; give one (list them with `hoist runtime %s`)", ErrInvalid, what, map[string]string{"task ID": "ps", "service name": "services"}[what])
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://hoist"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, c.Socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("reading the control plane's answer to %s %s: %w", method, path, err)
	}
	return nil
}

func decodeError(resp *http.Response) error {
	var e Error
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if json.Unmarshal(data, &e) != nil || e.Message == "" {
		e.Message = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	switch e.Code {
	case "InvalidParameter":
		return &CodedError{ErrInvalid, e.Message}
	case "NotFound":
		return &CodedError{ErrNotFound, e.Message}
	case "Conflict":
		return &CodedError{ErrConflict, e.Message}
	case "Unavailable":
		return &CodedError{ErrUnavailable, e.Message}
	}
	return errors.New(e.Message)
}

// CodedError carries the control plane's message with the sentinel error
// of its code, so errors.Is works across the socket.
type CodedError struct {
	Kind    error
	Message string
}

func (e *CodedError) Error() string { return e.Message }
func (e *CodedError) Unwrap() error { return e.Kind }

// Ping checks the control plane answers.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, "GET", "/v1/ping", nil, nil)
}

func (c *Client) RegisterTaskDefinition(ctx context.Context, td *TaskDefinition) (*TaskDefinition, error) {
	var out TaskDefinition
	return &out, c.do(ctx, "POST", "/v1/task-definitions", td, &out)
}

func (c *Client) DescribeTaskDefinition(ctx context.Context, ref string) (*TaskDefinition, error) {
	var out TaskDefinition
	return &out, c.do(ctx, "GET", "/v1/task-definitions/"+url.PathEscape(ref), nil, &out)
}

func (c *Client) ListTaskDefinitions(ctx context.Context) ([]TaskDefinition, error) {
	var out []TaskDefinition
	return out, c.do(ctx, "GET", "/v1/task-definitions", nil, &out)
}

// ApplyService creates the service, or updates it (a new task definition
// starts a rolling deployment).
func (c *Client) ApplyService(ctx context.Context, s *Service) (*Service, error) {
	if err := named("service name", s.ServiceName); err != nil {
		return nil, err
	}
	var out Service
	return &out, c.do(ctx, "PUT", "/v1/services/"+url.PathEscape(s.ServiceName), s, &out)
}

func (c *Client) DescribeService(ctx context.Context, name string) (*Service, error) {
	if err := named("service name", name); err != nil {
		return nil, err
	}
	var out Service
	return &out, c.do(ctx, "GET", "/v1/services/"+url.PathEscape(name), nil, &out)
}

func (c *Client) ListServices(ctx context.Context) ([]Service, error) {
	var out []Service
	return out, c.do(ctx, "GET", "/v1/services", nil, &out)
}

// DeleteService scales the service to zero, drains and stops its tasks
// and removes it.
func (c *Client) DeleteService(ctx context.Context, name string) error {
	if err := named("service name", name); err != nil {
		return err
	}
	return c.do(ctx, "DELETE", "/v1/services/"+url.PathEscape(name), nil, nil)
}

func (c *Client) Scale(ctx context.Context, name string, desired int) (*Service, error) {
	if err := named("service name", name); err != nil {
		return nil, err
	}
	var out Service
	return &out, c.do(ctx, "POST", "/v1/services/"+url.PathEscape(name)+"/scale", map[string]int{"desiredCount": desired}, &out)
}

// ListTasks lists tasks; service "" means all; stopped includes the
// recently stopped.
func (c *Client) ListTasks(ctx context.Context, service string, stopped bool) ([]Task, error) {
	var out []Task
	q := url.Values{}
	if service != "" {
		q.Set("service", service)
	}
	if stopped {
		q.Set("stopped", "1")
	}
	return out, c.do(ctx, "GET", "/v1/tasks?"+q.Encode(), nil, &out)
}

func (c *Client) DescribeTask(ctx context.Context, id string) (*Task, error) {
	if err := named("task ID", id); err != nil {
		return nil, err
	}
	var out Task
	return &out, c.do(ctx, "GET", "/v1/tasks/"+url.PathEscape(id), nil, &out)
}

func (c *Client) StopTask(ctx context.Context, id, reason string) (*Task, error) {
	if err := named("task ID", id); err != nil {
		return nil, err
	}
	var out Task
	return &out, c.do(ctx, "POST", "/v1/tasks/"+url.PathEscape(id)+"/stop", map[string]string{"reason": reason}, &out)
}

func (c *Client) RunTask(ctx context.Context, in *RunTaskInput) ([]Task, error) {
	var out []Task
	return out, c.do(ctx, "POST", "/v1/run-task", in, &out)
}

// PutSecret stores a secret value; it is never returned by any call.
func (c *Client) PutSecret(ctx context.Context, name, value string) error {
	return c.do(ctx, "PUT", "/v1/secrets/"+url.PathEscape(name), map[string]string{"value": value}, nil)
}

// ListSecrets returns secret names only.
func (c *Client) ListSecrets(ctx context.Context) ([]string, error) {
	var out []string
	return out, c.do(ctx, "GET", "/v1/secrets", nil, &out)
}

func (c *Client) DeleteSecret(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/v1/secrets/"+url.PathEscape(name), nil, nil)
}

func (c *Client) PutSchedule(ctx context.Context, s *Schedule) (*Schedule, error) {
	var out Schedule
	return &out, c.do(ctx, "PUT", "/v1/schedules/"+url.PathEscape(s.Name), s, &out)
}

func (c *Client) ListSchedules(ctx context.Context) ([]Schedule, error) {
	var out []Schedule
	return out, c.do(ctx, "GET", "/v1/schedules", nil, &out)
}

func (c *Client) DeleteSchedule(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/v1/schedules/"+url.PathEscape(name), nil, nil)
}

func (c *Client) AddWebhook(ctx context.Context, u string) (*Webhook, error) {
	var out Webhook
	return &out, c.do(ctx, "POST", "/v1/webhooks", Webhook{URL: u}, &out)
}

func (c *Client) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	var out []Webhook
	return out, c.do(ctx, "GET", "/v1/webhooks", nil, &out)
}

func (c *Client) DeleteWebhook(ctx context.Context, u string) error {
	return c.do(ctx, "DELETE", "/v1/webhooks?url="+url.QueryEscape(u), nil, nil)
}

// Events returns events after seq; with follow it calls fn for each event
// as it happens until ctx ends or fn returns an error.
func (c *Client) Events(ctx context.Context, since uint64, service string, follow bool, fn func(Event) error) error {
	q := url.Values{"since": {strconv.FormatUint(since, 10)}}
	if service != "" {
		q.Set("service", service)
	}
	if follow {
		q.Set("follow", "1")
	}
	return c.stream(ctx, "/v1/events?"+q.Encode(), func(line []byte) error {
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return err
		}
		return fn(e)
	})
}

// Logs streams a task's (or a service's tasks') output.
func (c *Client) Logs(ctx context.Context, target string, follow bool, tail int, w io.Writer) error {
	q := url.Values{"target": {target}, "tail": {strconv.Itoa(tail)}}
	if follow {
		q.Set("follow", "1")
	}
	req, err := http.NewRequestWithContext(ctx, "GET", "http://hoist/v1/logs?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, c.Socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	_, err = io.Copy(w, resp.Body)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (c *Client) stream(ctx context.Context, path string, line func([]byte) error) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://hoist"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, c.Socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := line(sc.Bytes()); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return sc.Err()
}

// Purge stops every task, removes every container, network namespace,
// bridge and iptables rule the runtime made, and forgets all state.
func (c *Client) Purge(ctx context.Context) error {
	return c.do(ctx, "POST", "/v1/purge", nil, nil)
}

// WaitFor polls cond until it returns true or the timeout passes.
func WaitFor(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("timed out after %s: %w", timeout, last)
			}
			return fmt.Errorf("timed out after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

package controlplane_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoistctl/hoist/runtime/api"
)

// syncBuffer is a bytes.Buffer safe to read while a stream writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBadInputAndVanishedSocket: what a user hits by mistake gets a clear
// answer. An empty task ID or service name is refused as such (it was a
// bare "HTTP 405"); `logs --follow` of a stopped task, and of one that
// stops while followed, ends instead of waiting forever; following a
// service takes in the replacement of a stopped task; a control socket
// file removed while the engine runs is made again (every command waited
// three minutes for it before).
func TestBadInputAndVanishedSocket(t *testing.T) {
	cfg, c := engine(t)
	ctx := context.Background()

	if _, err := c.StopTask(ctx, "", ""); !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "task ID is empty") {
		t.Errorf("stopping task \"\": %v", err)
	}
	if _, err := c.Scale(ctx, "", 1); !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "service name is empty") {
		t.Errorf("scaling service \"\": %v", err)
	}

	// Following the logs of a task that has stopped ends.
	job := webTD("exits", "x")
	job.ContainerDefinitions[0].Command = []string{"-exit", "0"}
	if _, err := c.RegisterTaskDefinition(ctx, job); err != nil {
		t.Fatal(err)
	}
	ts, err := c.RunTask(ctx, &api.RunTaskInput{TaskDefinition: "exits", Wait: true})
	if err != nil || len(ts) != 1 || ts[0].LastStatus != api.StatusStopped {
		t.Fatalf("run-task: %+v, %v", ts, err)
	}
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	var out bytes.Buffer
	err = c.Logs(fctx, ts[0].TaskID, true, 0, &out)
	if fctx.Err() != nil || err != nil || !strings.Contains(out.String(), "exiting with 0") {
		t.Errorf("logs --follow of a stopped task: ended by the timeout %v, err %v, output %q", fctx.Err() != nil, err, out.String())
	}
	cancel()

	// Following a service, then a task of it that is stopped.
	if _, err := c.RegisterTaskDefinition(ctx, webTD("follow", "1")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApplyService(ctx, webService("follow", "follow", 1)); err != nil {
		t.Fatal(err)
	}
	waitService(t, c, "follow", "follow:1", 1, time.Minute)
	tasks, err := c.ListTasks(ctx, "follow", false)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("tasks: %+v, %v", tasks, err)
	}
	first := tasks[0].TaskID
	fctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var svcOut, taskOut syncBuffer
	taskDone, svcDone := make(chan error, 1), make(chan error, 1)
	go func() { taskDone <- c.Logs(fctx, first, true, 0, &taskOut) }()
	go func() { svcDone <- c.Logs(fctx, "follow", true, 0, &svcOut) }()
	time.Sleep(500 * time.Millisecond)
	if _, err := c.StopTask(ctx, first, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-taskDone:
		if err != nil || !strings.Contains(taskOut.String(), "listening on :8080") {
			t.Errorf("logs --follow of the stopped task: %v, %q", err, taskOut.String())
		}
	case <-fctx.Done():
		t.Errorf("logs --follow of a task did not end when the task stopped")
	}
	// The replacement's output reaches the service's follower.
	if err := api.WaitFor(ctx, 30*time.Second, func() (bool, error) {
		ts, err := c.ListTasks(ctx, "follow", false)
		for _, tk := range ts {
			if tk.TaskID != first && strings.Contains(svcOut.String(), tk.TaskID[:12]+" webapp "+tk.TaskID[:12]) {
				return true, nil
			}
		}
		return false, err
	}); err != nil {
		t.Errorf("logs --follow of the service never showed the replacement task: %v\n%s", err, svcOut.String())
	}
	if err := c.DeleteService(ctx, "follow"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-svcDone:
	case <-time.After(10 * time.Second):
		t.Errorf("logs --follow of a deleted service did not end")
	}

	// The control socket removed while the engine runs comes back.
	if err := os.Remove(cfg.ControlSocket()); err != nil {
		t.Fatal(err)
	}
	// A new client each time: a kept-alive connection does not need
	// the file.
	if err := api.WaitFor(ctx, 10*time.Second, func() (bool, error) { return cfg.Client().Ping(ctx) == nil, nil }); err != nil {
		t.Errorf("control socket not made again: %v", err)
	} else if fi, err := os.Stat(cfg.ControlSocket()); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket made again with mode %v", fi.Mode())
	}
}

package kubetest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestAnswers200: the readiness check every component's start waits on
// passes on 200 only, and says what was not ready and why.
func TestAnswers200(t *testing.T) {
	status := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		fmt.Fprint(w, "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed\n")
	}))
	defer srv.Close()
	check := answers200(srv.Client(), srv.URL+"/readyz", "readyz")
	err := check()
	if err == nil || !strings.Contains(err.Error(), "readyz: 503 Service Unavailable") || !strings.Contains(err.Error(), "[-]etcd failed") {
		t.Errorf("not ready: %v", err)
	}
	status = http.StatusOK
	if err := check(); err != nil {
		t.Errorf("ready: %v", err)
	}
	srv.Close()
	if err := check(); err == nil {
		t.Error("a closed server is ready")
	}
}

func TestStartServesTheAPI(t *testing.T) {
	s := Start(t)
	body, err := s.Get("/api/v1/namespaces/default")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"name":"default"`) {
		t.Fatalf("default namespace: %s", body)
	}
	ns := []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubetest\n")
	if err := s.Apply("/api/v1/namespaces/kubetest", ns); err != nil {
		t.Fatal(err)
	}
	cm := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: kubetest\ndata:\n  a: b\n")
	if err := s.ApplyDryRun("/api/v1/namespaces/kubetest/configmaps/c", cm); err != nil {
		t.Fatal(err)
	}
	// Dry run stores nothing.
	if _, err := s.Get("/api/v1/namespaces/kubetest/configmaps/c"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("dry run stored the object: %v", err)
	}
	// Strict field validation rejects an unknown field.
	bad := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: kubetest\ndata:\n  a: b\nbogus: 1\n")
	if err := s.ApplyDryRun("/api/v1/namespaces/kubetest/configmaps/c", bad); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("unknown field accepted: %v", err)
	}
	if s.Config.Host != s.URL || s.Kubeconfig == "" {
		t.Fatalf("config %+v", s)
	}
}

// TestStartWithControllers: with kube-controller-manager and kube-scheduler
// a Deployment gets a ReplicaSet and a Pod, which the scheduler marks
// Unschedulable (there are no nodes).
func TestStartWithControllers(t *testing.T) {
	s := Start(t, WithControllers(), WithScheduler())
	dep := []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: d}
  template:
    metadata:
      labels: {app: d}
    spec:
      containers:
      - name: c
        image: registry.example.com/app:v1
`)
	if err := s.Apply("/apis/apps/v1/namespaces/default/deployments/d", dep); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		body, err := s.Get("/api/v1/namespaces/default/pods?labelSelector=app%3Dd")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(body), `"reason":"Unschedulable"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no unschedulable pod after 60s: %s", body)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

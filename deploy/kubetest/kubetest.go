// Package kubetest starts a real Kubernetes API server for tests: etcd (the
// Debian package) and kube-apiserver built from the k8s.io/kubernetes module
// (the nested module in ./kubeapiserver, built once and cached), both on
// 127.0.0.1 with free ports and private directories, stopped by PID when the
// test ends. On request it adds kube-controller-manager and kube-scheduler
// from the same module, so Deployments get ReplicaSets and Pods; there is
// never a kubelet or a node, so pods stay Pending.
package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// Server is a running API server.
type Server struct {
	// URL is https://127.0.0.1:PORT.
	URL string
	// Kubeconfig is a kubeconfig file for an admin (group system:masters).
	Kubeconfig string
	// Config is the same as a client-go REST config.
	Config *rest.Config
	// HTTPClient talks to the server as that admin.
	HTTPClient *http.Client
}

// Option adds to what Start starts.
type Option func(*options)

type options struct{ controllers, scheduler bool }

// WithControllers also starts kube-controller-manager (deployments,
// replica sets, service accounts, garbage collection, ...).
func WithControllers() Option { return func(o *options) { o.controllers = true } }

// WithScheduler also starts kube-scheduler. With no nodes it marks every
// pod Unschedulable.
func WithScheduler() Option { return func(o *options) { o.scheduler = true } }

// Start starts etcd and kube-apiserver for t (and what opts ask for) and
// stops them when t ends. The first call on a machine builds each binary
// (several minutes; run such tests with -timeout 60m the first time).
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver; not in -short mode")
	}
	etcdBin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatalf("etcd is not installed: apt-get install etcd-server (kube-apiserver tests need it)")
	}
	apiserver, err := KubeAPIServer(t.Logf)
	if err != nil {
		t.Fatalf("kube-apiserver: %v", err)
	}
	dir := t.TempDir()

	// etcd.
	clientPort, peerPort := freePort(t), freePort(t)
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	etcd := startProcess(t, "etcd", filepath.Join(dir, "etcd.log"), etcdBin,
		"--name=hoist-test",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=hoist-test="+peerURL,
		"--listen-metrics-urls=",
		"--quota-backend-bytes=1073741824",
	)
	waitFor(t, etcd, 60*time.Second, answers200(http.DefaultClient, etcdURL+"/health", "etcd health"))

	// Certificates: a CA, the server's certificate for 127.0.0.1, an
	// admin client certificate, and the service account signing key.
	pki := newPKI(t, dir)
	port := freePort(t)
	url := "https://127.0.0.1:" + strconv.Itoa(port)
	api := startProcess(t, "kube-apiserver", filepath.Join(dir, "kube-apiserver.log"), apiserver,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// No endpoints for the kubernetes service: they may not be loopback.
		"--endpoint-reconciler-type=none",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--tls-cert-file="+pki.serverCert,
		"--tls-private-key-file="+pki.serverKey,
		"--client-ca-file="+pki.caCert,
		"--service-account-key-file="+pki.saKey,
		"--service-account-signing-key-file="+pki.saKey,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.96.0.0/24",
		"--authorization-mode=RBAC",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=1",
	)
	cert, err := tls.LoadX509KeyPair(pki.adminCert, pki.adminKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pki.caPEM)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	waitFor(t, api, 180*time.Second, answers200(client, url+"/readyz", "readyz"))

	kubeconfig := filepath.Join(dir, "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: hoist-test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: hoist-test
  context:
    cluster: hoist-test
    user: admin
current-context: hoist-test
`, url, pki.caCert, pki.adminCert, pki.adminKey)
	if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	if o.controllers {
		startControllerManager(t, dir, kubeconfig, pki, client, url)
	}
	if o.scheduler {
		startScheduler(t, dir, kubeconfig)
	}
	return &Server{
		URL:        url,
		Kubeconfig: kubeconfig,
		Config: &rest.Config{
			Host: url,
			TLSClientConfig: rest.TLSClientConfig{
				CAFile: pki.caCert, CertFile: pki.adminCert, KeyFile: pki.adminKey,
			},
		},
		HTTPClient: client,
	}
}

// startControllerManager runs kube-controller-manager against the server
// and waits until its service account controller made the default
// namespace's ServiceAccount (pods need one to be admitted).
func startControllerManager(t testing.TB, dir, kubeconfig string, pki pkiFiles, client *http.Client, url string) {
	t.Helper()
	p, _ := startComponent(t, "kube-controller-manager", dir, kubeconfig,
		"--service-account-private-key-file="+pki.saKey,
		"--root-ca-file="+pki.caCert,
		"--use-service-account-credentials=false",
		// Nothing here allocates pod CIDRs or talks to a cloud.
		"--allocate-node-cidrs=false",
	)
	waitFor(t, p, 120*time.Second, answers200(client, url+"/api/v1/namespaces/default/serviceaccounts/default", "default service account"))
}

// startScheduler runs kube-scheduler against the server and waits for its
// health endpoint.
func startScheduler(t testing.TB, dir, kubeconfig string) {
	t.Helper()
	p, port := startComponent(t, "kube-scheduler", dir, kubeconfig)
	// Its serving certificate is self-signed; /healthz is all it answers here.
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	waitFor(t, p, 120*time.Second, answers200(insecure, "https://127.0.0.1:"+strconv.Itoa(port)+"/healthz", "healthz"))
}

// startComponent starts a control-plane component of the nested module
// (kube-controller-manager, kube-scheduler) as an admin client of the
// server through kubeconfig: no leader election, its own serving port on
// 127.0.0.1 (returned) and certificate directory, the log in dir/NAME.log.
// args are the component's own flags.
func startComponent(t testing.TB, name, dir, kubeconfig string, args ...string) (*process, int) {
	t.Helper()
	bin, err := Binary(name, t.Logf)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	port := freePort(t)
	common := []string{
		"--kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(dir, name+"-certs"),
	}
	args = append(append(common, args...), "--profiling=false", "--v=1")
	return startProcess(t, name, filepath.Join(dir, name+".log"), bin, args...), port
}

// answers200 is a readiness check for waitFor: a GET of url answered with
// 200. Otherwise the error names what and the status, with the end of the
// body (readyz lists the checks that failed).
func answers200(client *http.Client, url, what string) func() error {
	return func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: %s: %s", what, resp.Status, lastLines(string(body), 5))
		}
		return nil
	}
}

// process is a child the test started; only it is ever signalled.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func startProcess(t testing.TB, name, logPath, bin string, args ...string) *process {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a Ctrl-C to the test does not race our
	// orderly stop; we still signal only this PID.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitFor polls check until it succeeds, the process exits or the time is up.
func waitFor(t testing.TB, p *process, limit time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			log, _ := os.ReadFile(p.log)
			t.Fatalf("%s exited (%v) before it was ready:\n%s", p.name, p.err, lastLines(string(log), 30))
		default:
		}
		if last = check(); last == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	log, _ := os.ReadFile(p.log)
	t.Fatalf("%s not ready after %s: %v\n%s", p.name, limit, last, lastLines(string(log), 30))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type pkiFiles struct {
	caCert, serverCert, serverKey, adminCert, adminKey, saKey string
	caPEM                                                     []byte
}

func newPKI(t testing.TB, dir string) pkiFiles {
	t.Helper()
	pdir := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pdir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name string, typ string, der []byte) string {
		p := filepath.Join(pdir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func() (*ecdsa.PrivateKey, []byte) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return k, der
	}
	now := time.Now()
	serial := int64(1)
	sign := func(tmpl *x509.Certificate, parent *x509.Certificate, pub any, priv any) []byte {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore = now.Add(-time.Hour)
		tmpl.NotAfter = now.Add(24 * time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	caKey, _ := key()
	caTmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "hoist-test-ca"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER := sign(caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	var f pkiFiles
	f.caCert = write("ca.crt", "CERTIFICATE", caDER)
	f.caPEM, _ = os.ReadFile(f.caCert)

	srvKey, srvDER := key()
	f.serverKey = write("server.key", "EC PRIVATE KEY", srvDER)
	f.serverCert = write("server.crt", "CERTIFICATE", sign(&x509.Certificate{
		Subject: pkix.Name{CommonName: "kube-apiserver"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &srvKey.PublicKey, caKey))

	admKey, admDER := key()
	f.adminKey = write("admin.key", "EC PRIVATE KEY", admDER)
	f.adminCert = write("admin.crt", "CERTIFICATE", sign(&x509.Certificate{
		Subject:  pkix.Name{CommonName: "hoist-test-admin", Organization: []string{"system:masters"}},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, &admKey.PublicKey, caKey))

	_, saDER := key()
	f.saKey = write("sa.key", "EC PRIVATE KEY", saDER)
	return f
}

// moduleDir is the nested module that builds kube-apiserver.
func moduleDir() (string, error) {
	_, file, _, ok := goruntime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the kubetest package's source")
	}
	return filepath.Join(filepath.Dir(file), "kubeapiserver"), nil
}

// Version is the Kubernetes release the nested module builds.
func Version() (string, error) {
	dir, err := moduleDir()
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^(?:require)?\s*k8s\.io/kubernetes (v\S+)(?:\s*//.*)?$`).FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("%s/go.mod does not require k8s.io/kubernetes", dir)
	}
	return string(m[1]), nil
}

// CacheDir is where built binaries are kept: $HOIST_CACHE_DIR, else
// /var/cache/hoist when writable, else $XDG_CACHE_HOME/hoist (~/.cache/hoist).
func CacheDir() string {
	if d := os.Getenv("HOIST_CACHE_DIR"); d != "" {
		return d
	}
	if err := os.MkdirAll("/var/cache/hoist", 0o755); err == nil {
		if f, err := os.CreateTemp("/var/cache/hoist", ".w-*"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/var/cache/hoist"
		}
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "hoist")
	}
	return filepath.Join(os.TempDir(), "hoist-cache")
}

var buildMu sync.Mutex

// Components the nested module builds, with the environment variable that
// may name a binary to use instead.
var components = map[string]string{
	"kube-apiserver":          "HOIST_KUBE_APISERVER",
	"kube-controller-manager": "HOIST_KUBE_CONTROLLER_MANAGER",
	"kube-scheduler":          "HOIST_KUBE_SCHEDULER",
}

// KubeAPIServer returns the path of kube-apiserver: $HOIST_KUBE_APISERVER,
// or the cached build of the nested module's release, building it (through
// the Go module proxy) when it is not there yet. A file lock keeps two test
// processes from building at once.
func KubeAPIServer(logf func(string, ...any)) (string, error) {
	return Binary("kube-apiserver", logf)
}

// Binary returns the path of one of Kubernetes' commands (kube-apiserver,
// kube-controller-manager, kube-scheduler) as KubeAPIServer does: from its
// environment variable, else the cache, else built once from the nested
// module into CacheDir()/NAME-VERSION/NAME.
func Binary(name string, logf func(string, ...any)) (string, error) {
	bins, err := Binaries([]string{name}, logf)
	if err != nil {
		return "", err
	}
	return bins[0], nil
}

// Binaries is Binary for several commands: those not cached yet are built
// in one go build, which compiles their many shared packages once and
// links them side by side. A file lock per command keeps two processes
// from building the same one; the locks are taken in a fixed order.
func Binaries(names []string, logf func(string, ...any)) ([]string, error) {
	version, err := Version()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(names))
	var missing []string
	for i, name := range names {
		env, ok := components[name]
		if !ok {
			return nil, fmt.Errorf("kubetest builds kube-apiserver, kube-controller-manager and kube-scheduler, not %q", name)
		}
		if p := os.Getenv(env); p != "" {
			out[i] = p
			continue
		}
		out[i] = filepath.Join(CacheDir(), name+"-"+version, name)
		if _, err := os.Stat(out[i]); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	sort.Strings(missing)
	buildMu.Lock()
	defer buildMu.Unlock()
	var build []string
	for _, name := range missing {
		dir := filepath.Join(CacheDir(), name+"-"+version)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, err
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			return nil, err
		}
		defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			build = append(build, name) // not built by another process meanwhile
		}
	}
	if len(build) == 0 {
		return out, nil
	}
	mod, err := moduleDir()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(CacheDir(), ".build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	logf("building %s %s from the Go module proxy into %s (several minutes, once)", strings.Join(build, ", "), version, CacheDir())
	// No symbol table or DWARF: the tests never debug these, and the
	// linker writes three large binaries in less time without them.
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", tmp + "/"}
	for _, name := range build {
		args = append(args, "k8s.io/kubernetes/cmd/"+name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("building %s %s in %s: %v\n%s", strings.Join(build, ", "), version, mod, err, lastLines(buf.String(), 20))
	}
	for _, name := range build {
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(CacheDir(), name+"-"+version, name)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ApplyDryRun sends one object (YAML or JSON) to the server as a
// server-side apply with dryRun=All and fieldValidation=Strict, so the
// server decodes it strictly and runs its full validation and admission
// without storing anything. path is the object's REST path, e.g.
// /apis/apps/v1/namespaces/NS/deployments/NAME. A warning of the server
// is an error too.
func (s *Server) ApplyDryRun(path string, body []byte) error {
	warnings, err := s.apply(path, body, "dryRun=All&")
	if err != nil {
		return err
	}
	if len(warnings) > 0 {
		return fmt.Errorf("%s: the server warned: %s", path, strings.Join(warnings, "; "))
	}
	return nil
}

// Apply is ApplyDryRun without the dry run: the object is stored.
func (s *Server) Apply(path string, body []byte) error {
	_, err := s.apply(path, body, "")
	return err
}

// apply sends body to path as a server-side apply by field manager hoist
// with strict field validation, forcing conflicts; query is added to the
// URL's. It returns the server's Warning headers.
func (s *Server) apply(path string, body []byte, query string) ([]string, error) {
	req, err := http.NewRequest(http.MethodPatch, s.URL+path+"?"+query+"fieldManager=hoist&fieldValidation=Strict&force=true", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/apply-patch+yaml")
	req.Header.Set("Accept", "application/json")
	resp, err := s.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s", resp.Status, path, strings.TrimSpace(string(data)))
	}
	return resp.Header.Values("Warning"), nil
}

// Get reads a path of the API.
func (s *Server) Get(path string) ([]byte, error) {
	resp, err := s.HTTPClient.Get(s.URL + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(bufio.NewReader(resp.Body))
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s", resp.Status, path, strings.TrimSpace(string(data)))
	}
	return data, err
}

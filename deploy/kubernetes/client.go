package kubernetes

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hoistctl/hoist/discover"
)

// ErrForbidden is returned when the cluster's authorization refuses
// something hoist needs to do.
var ErrForbidden = errors.New("forbidden by the cluster")

// ErrConflict is returned when server-side apply finds fields another
// field manager owns and --force-conflicts was not given.
var ErrConflict = errors.New("field conflict")

// cluster is a connection to one API server.
type cluster struct {
	server, context string
	dyn             dynamic.Interface
	typed           kubernetes.Interface
	mapper          meta.RESTMapper
}

// kubeconfigHint says where hoist looked for a kubeconfig, like kubectl.
func kubeconfigHint(explicit string) string {
	if explicit != "" {
		return "--kubeconfig " + explicit
	}
	if env := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		return "KUBECONFIG=" + env
	}
	return clientcmd.RecommendedHomeFile + " (no KUBECONFIG set, not in a pod)"
}

// connect loads the kubeconfig as kubectl does (--kubeconfig, then
// $KUBECONFIG, then ~/.kube/config, then the in-cluster service account),
// picks the context, and checks the server answers.
func connect(ctx context.Context, kubeconfig, kubeContext string) (*cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		if _, err := os.Stat(kubeconfig); err != nil {
			return nil, fmt.Errorf("%w: --kubeconfig %s: %v; give the path of a kubeconfig file (kubectl config view --kubeconfig FILE shows what it holds)", discover.ErrNotFound, kubeconfig, err)
		}
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	where := kubeconfigHint(kubeconfig)
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: loading the kubeconfig (%s): %v; fix the file (kubectl config view shows what is loaded)", discover.ErrInvalid, where, err)
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		switch {
		case clientcmd.IsEmptyConfig(err):
			return nil, fmt.Errorf("%w: no kubeconfig: looked at %s and for an in-cluster service account; pass --kubeconfig FILE or set KUBECONFIG (for EKS: aws eks update-kubeconfig --name CLUSTER)", discover.ErrNotFound, where)
		case kubeContext != "" && raw.Contexts[kubeContext] == nil:
			names := make([]string, 0, len(raw.Contexts))
			for n := range raw.Contexts {
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("%w: --context %s is not in the kubeconfig (%s); its contexts: %s", discover.ErrNotFound, kubeContext, where, strings.Join(names, ", "))
		}
		return nil, fmt.Errorf("%w: the kubeconfig (%s) is not usable: %v; fix it or pick another context with --context (kubectl config get-contexts lists them)", discover.ErrInvalid, where, err)
	}
	name := kubeContext
	if name == "" {
		name = raw.CurrentContext
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 60 * time.Second
	}
	cfg.UserAgent = "hoist"
	// hoist sends a handful of requests; the default client-side limits
	// (5 QPS) would only slow a rollout wait down.
	cfg.QPS, cfg.Burst = 50, 100
	c := &cluster{server: cfg.Host, context: name}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: the kubeconfig (%s, context %s): %v", discover.ErrInvalid, where, name, err)
	}
	if _, err := dc.ServerVersion(); err != nil {
		return nil, c.explain("reaching the API server", err)
	}
	c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	if c.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if c.typed, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	return c, nil
}

// explain turns an error of a request into one that says what to do.
func (c *cluster) explain(doing string, err error) error {
	at := fmt.Sprintf("the API server %s (context %s)", c.server, orNone(c.context))
	var ue *url.Error
	var ne net.Error
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &ci):
		return fmt.Errorf("%s: %s: its TLS certificate is not trusted: %v; check certificate-authority(-data) in the kubeconfig", doing, at, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s: %s refused hoist's credentials: %v; refresh them (EKS: aws eks update-kubeconfig; GKE: gcloud container clusters get-credentials) and check with `kubectl get namespaces`", doing, at, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w: %s: %s: %v; ask a cluster admin for a Role allowing it (check with `kubectl auth can-i`)", ErrForbidden, doing, at, apiMessage(err))
	case errors.As(err, &ne), errors.As(err, &ue), errors.Is(err, context.DeadlineExceeded), apierrors.IsServiceUnavailable(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err):
		return fmt.Errorf("%w: %s: cannot reach %s: %v; is the cluster running and the kubeconfig's server address right? (kubectl cluster-info)", discover.ErrUnavailable, doing, at, err)
	}
	return fmt.Errorf("%s: %s: %w", doing, at, err)
}

func apiMessage(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return se.Status().Message
	}
	return err.Error()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

package push

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func writeJSON(t *testing.T, p string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// helperScript installs docker-credential-NAME on $PATH: a real helper
// speaking the credential-helper protocol (server URL on stdin, JSON on
// stdout), knowing one server.
func helperScript(t *testing.T, name, server, user, secret string) {
	t.Helper()
	dir := t.TempDir()
	script := fmt.Sprintf(`#!/bin/sh
[ "$1" = get ] || { echo "unsupported action $1"; exit 1; }
read -r url || true
if [ "$url" = %q ]; then
  printf '{"ServerURL":"%%s","Username":%q,"Secret":%q}' "$url"
else
  echo "credentials not found in native keychain"; exit 1
fi
`, server, user, secret)
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-"+name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func TestDockerConfigCredentials(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.json")
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	helperScript(t, "hoisttest", "helped.example.com", "helper-user", "helper-secret")
	helperScript(t, "hoisttoken", "tokened.example.com", "<token>", "an-identity-token")
	writeJSON(t, cfgPath, map[string]any{
		"auths": map[string]any{
			"127.0.0.1:5000":                 map[string]string{"auth": b64("alice:pw-a")},
			"https://registry.example.com/":  map[string]string{"username": "bob", "password": "pw-b"},
			"https://index.docker.io/v1/":    map[string]string{"auth": b64("hubuser:hubpw")},
			"tokens.example.com":             map[string]string{"identitytoken": "refresh-me"},
			"helped.example.com":             map[string]string{}, // docker leaves this beside a helper
			"broken.example.com":             map[string]string{"auth": "%%%"},
			"http://other.example.com:8443/": map[string]string{"auth": b64("carol:pw-c")},
		},
		"credHelpers": map[string]string{"helped.example.com": "hoisttest", "missing.example.com": "nosuchhelper", "tokened.example.com": "hoisttoken"},
	})
	c := &Credentials{DockerConfig: cfgPath}
	for _, tc := range []struct {
		host, user, secret, source, err string
	}{
		{host: "127.0.0.1:5000", user: "alice", secret: "pw-a", source: "(auths)"},
		{host: "registry.example.com", user: "bob", secret: "pw-b", source: "(auths)"},
		{host: "registry-1.docker.io", user: "hubuser", secret: "hubpw", source: "(auths)"},
		{host: "docker.io", user: "hubuser", secret: "hubpw", source: "(auths)"},
		{host: "tokens.example.com", secret: "refresh-me", source: "(auths)"},
		{host: "other.example.com:8443", user: "carol", secret: "pw-c", source: "(auths)"},
		{host: "helped.example.com", user: "helper-user", secret: "helper-secret", source: "docker-credential-hoisttest"},
		{host: "tokened.example.com", secret: "an-identity-token", source: "docker-credential-hoisttoken"},
		{host: "unknown.example.com"},
		{host: "missing.example.com", err: "docker-credential-nosuchhelper is not on $PATH"},
		{host: "broken.example.com", err: "not base64"},
	} {
		cr, err := c.Lookup(ctx, tc.host)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.host, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.host, err)
			continue
		}
		if cr.Username != tc.user || cr.Secret != tc.secret || !strings.Contains(cr.Source, tc.source) || (tc.source == "") != (cr.Source == "") {
			t.Errorf("%s: got %+v, want %s/%s from %q", tc.host, cr, tc.user, tc.secret, tc.source)
		}
	}

	// credsStore is the default helper for every host without a credHelper.
	writeJSON(t, cfgPath, map[string]any{"credsStore": "hoisttest", "auths": map[string]any{"helped.example.com": map[string]string{}}})
	c = &Credentials{DockerConfig: cfgPath}
	if cr, err := c.Lookup(ctx, "helped.example.com"); err != nil || cr.Username != "helper-user" {
		t.Errorf("credsStore: %+v, %v", cr, err)
	}
	if cr, err := c.Lookup(ctx, "elsewhere.example.com"); err != nil || cr != (Credential{}) {
		t.Errorf("credsStore, unknown host: %+v, %v", cr, err)
	}

	// DOCKER_CONFIG is a directory holding config.json; no file is no credentials.
	t.Setenv("DOCKER_CONFIG", dir)
	if got := (&Credentials{}).ConfigPath(); got != cfgPath {
		t.Errorf("ConfigPath with DOCKER_CONFIG: %s", got)
	}
	if cr, err := (&Credentials{DockerConfig: filepath.Join(dir, "none.json")}).Lookup(ctx, "127.0.0.1:5000"); err != nil || cr != (Credential{}) {
		t.Errorf("no config: %+v, %v", cr, err)
	}
	if err := os.WriteFile(cfgPath, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (&Credentials{DockerConfig: cfgPath}).Lookup(ctx, "127.0.0.1:5000"); err == nil || !strings.Contains(err.Error(), cfgPath) {
		t.Errorf("malformed config: %v", err)
	}
}

func TestECRRegion(t *testing.T) {
	for host, want := range map[string]string{
		"123456789012.dkr.ecr.us-east-1.amazonaws.com":          "us-east-1",
		"123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com": "us-gov-west-1",
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn":      "cn-north-1",
		"12345.dkr.ecr.us-east-1.amazonaws.com":                 "",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil":     "",
		"public.ecr.aws": "",
		"127.0.0.1:5000": "",
	} {
		got, ok := ECRRegion(host)
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q %v, want %q", host, got, ok, want)
		}
	}
}

// ecrAPI is an HTTP server on loopback standing in for the ECR API
// endpoint: it records each request and answers GetAuthorizationToken with
// a token for user AWS and the given password, as ECR does.
type ecrAPI struct {
	URL      string
	mu       sync.Mutex
	requests []recorded
}

type recorded struct {
	Target, Authorization, Body string
}

func startECRAPI(t *testing.T, password string) *ecrAPI {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := &ecrAPI{URL: "http://" + l.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		api.mu.Lock()
		api.requests = append(api.requests, recorded{Target: r.Header.Get("X-Amz-Target"), Authorization: r.Header.Get("Authorization"), Body: string(body)})
		api.mu.Unlock()
		if r.Header.Get("X-Amz-Target") != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"__type":"UnknownOperationException"}`)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		tok := base64.StdEncoding.EncodeToString([]byte("AWS:" + password))
		fmt.Fprintf(w, `{"authorizationData":[{"authorizationToken":%q,"expiresAt":4102444800,"proxyEndpoint":"https://123456789012.dkr.ecr.us-west-2.amazonaws.com"}]}`, tok)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return api
}

func (a *ecrAPI) Requests() []recorded {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]recorded(nil), a.requests...)
}

// awsEnv points the AWS SDK at api with static credentials and nothing
// from this machine's own AWS configuration.
func awsEnv(t *testing.T, api *ecrAPI) {
	t.Setenv("AWS_ENDPOINT_URL_ECR", api.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDHOISTTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "hoist-test-secret-key")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
}

// TestECRCredentials: for an ECR host the token comes from a signed
// GetAuthorizationToken call in the host's region.
func TestECRCredentials(t *testing.T) {
	api := startECRAPI(t, "ecr-password-1")
	awsEnv(t, api)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	c := &Credentials{}
	host := "123456789012.dkr.ecr.us-west-2.amazonaws.com"
	cr, err := c.Lookup(context.Background(), host)
	if err != nil {
		t.Fatal(err)
	}
	if cr.Username != "AWS" || cr.Secret != "ecr-password-1" || !strings.Contains(cr.Source, "ecr:GetAuthorizationToken (us-west-2") {
		t.Errorf("credential %+v", cr)
	}
	reqs := api.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests to the ECR API, want 1: %+v", len(reqs), reqs)
	}
	if !strings.Contains(reqs[0].Authorization, "AWS4-HMAC-SHA256 Credential=AKIDHOISTTEST/") || !strings.Contains(reqs[0].Authorization, "/us-west-2/ecr/aws4_request") {
		t.Errorf("request not signed for ecr in us-west-2: %q", reqs[0].Authorization)
	}
	// Cached for the life of the Credentials.
	if _, err := c.Lookup(context.Background(), host); err != nil || len(api.Requests()) != 1 {
		t.Errorf("second lookup: %v, %d requests", err, len(api.Requests()))
	}

	// No AWS credentials at all and no docker login: the error says so.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:9")
	_, err = (&Credentials{}).Lookup(context.Background(), host)
	if err == nil || !strings.Contains(err.Error(), "ecr:GetAuthorizationToken") {
		t.Errorf("without AWS credentials: %v", err)
	}
}

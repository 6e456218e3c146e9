package push

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"
)

// Credentials finds a registry's credentials the way docker does, in the
// Docker config (config.json: credHelpers, then credsStore, then auths),
// and for Amazon ECR hosts from ecr:GetAuthorizationToken through the AWS
// SDK (the usual AWS credential chain: environment, shared config and
// profile, SSO, instance role).
type Credentials struct {
	// DockerConfig is the config.json to read; empty means
	// $DOCKER_CONFIG/config.json, then ~/.docker/config.json.
	DockerConfig string
	// AWSProfile is the shared-config profile for ECR (empty: AWS_PROFILE
	// or the default chain).
	AWSProfile string

	mu    sync.Mutex
	cache map[string]Credential
}

// Credential is what was found for one host.
type Credential struct {
	Username string
	Secret   string // password, token or identity token (Username "")
	// Source says where it came from, for messages: "docker config
	// /root/.docker/config.json (auths)", "docker-credential-pass",
	// "ecr:GetAuthorizationToken (us-east-1)", or "" when none was found.
	Source string
}

// ecrHost matches Amazon ECR registries (private, FIPS and China regions).
var ecrHost = regexp.MustCompile(`^(\d{12})\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)

// ECRRegion returns the AWS region of an ECR registry host, and whether
// host is one.
func ECRRegion(host string) (string, bool) {
	m := ecrHost.FindStringSubmatch(host)
	if m == nil {
		return "", false
	}
	return m[3], true
}

// dockerHubKey is the key docker writes Docker Hub's credentials under.
const dockerHubKey = "https://index.docker.io/v1/"

func isDockerHub(host string) bool {
	switch host {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return true
	}
	return false
}

// ConfigPath is the Docker config file Lookup reads.
func (c *Credentials) ConfigPath() string {
	if c.DockerConfig != "" {
		return c.DockerConfig
	}
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".docker", "config.json")
}

type dockerConfig struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
	} `json:"auths"`
	CredHelpers map[string]string `json:"credHelpers"`
	CredsStore  string            `json:"credsStore"`
}

// Lookup returns the credentials for a registry host (host[:port]); an
// empty Credential means none were found (the push goes anonymous). It
// remembers what it found for the life of c.
func (c *Credentials) Lookup(ctx context.Context, host string) (Credential, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cr, ok := c.cache[host]; ok {
		return cr, nil
	}
	cr, err := c.lookup(ctx, host)
	if err != nil {
		return Credential{}, err
	}
	if c.cache == nil {
		c.cache = map[string]Credential{}
	}
	c.cache[host] = cr
	return cr, nil
}

func (c *Credentials) lookup(ctx context.Context, host string) (Credential, error) {
	if region, ok := ECRRegion(host); ok {
		cr, ecrErr := c.ecr(ctx, region)
		if ecrErr == nil {
			return cr, nil
		}
		// A docker login to ECR (or docker-credential-ecr-login) still
		// counts when the SDK finds no AWS credentials.
		if cr, err := c.docker(host); err == nil && cr.Secret != "" {
			return cr, nil
		}
		return Credential{}, ecrErr
	}
	return c.docker(host)
}

// ecr asks ECR for a registry token: base64 "AWS:PASSWORD", valid 12h.
func (c *Credentials) ecr(ctx context.Context, region string) (Credential, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(region)}
	if c.AWSProfile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(c.AWSProfile))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return Credential{}, fmt.Errorf("loading the AWS configuration for ECR in %s: %w", region, err)
	}
	out, err := ecr.NewFromConfig(cfg).GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return Credential{}, fmt.Errorf("getting an ECR token in %s (ecr:GetAuthorizationToken): %w; check the AWS credentials (aws sts get-caller-identity%s) and that they may call ecr:GetAuthorizationToken", region, err, profileHint(c.AWSProfile))
	}
	if len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil {
		return Credential{}, fmt.Errorf("getting an ECR token in %s: the answer holds no authorization data", region)
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	if err != nil {
		return Credential{}, fmt.Errorf("decoding the ECR token: %w", err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return Credential{}, errors.New("decoding the ECR token: not USER:PASSWORD")
	}
	src := "ecr:GetAuthorizationToken (" + region
	if c.AWSProfile != "" {
		src += ", profile " + c.AWSProfile
	}
	return Credential{Username: user, Secret: pass, Source: src + ")"}, nil
}

func profileHint(p string) string {
	if p == "" {
		return ""
	}
	return " --profile " + p
}

// docker reads the Docker config: a credential helper named for the host,
// then the default credential store, then the auths entry.
func (c *Credentials) docker(host string) (Credential, error) {
	path := c.ConfigPath()
	if path == "" {
		return Credential{}, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Credential{}, nil
	}
	if err != nil {
		return Credential{}, fmt.Errorf("reading the Docker config %s: %w", path, err)
	}
	var cfg dockerConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return Credential{}, fmt.Errorf("reading the Docker config %s: %w (fix or move the file; hoist reads registry credentials from it)", path, err)
	}
	serverURL := host
	if isDockerHub(host) {
		serverURL = dockerHubKey
	}
	for key, helper := range cfg.CredHelpers {
		if configKeyHost(key) == configKeyHost(serverURL) || (isDockerHub(host) && isDockerHub(configKeyHost(key))) {
			return helperGet(helper, serverURL, path)
		}
	}
	if cfg.CredsStore != "" {
		return helperGet(cfg.CredsStore, serverURL, path)
	}
	for key, a := range cfg.Auths {
		kh := configKeyHost(key)
		if kh != host && !(isDockerHub(host) && isDockerHub(kh)) {
			continue
		}
		src := "docker config " + path + " (auths)"
		if a.IdentityToken != "" {
			return Credential{Secret: a.IdentityToken, Source: src}, nil
		}
		user, pass := a.Username, a.Password
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return Credential{}, fmt.Errorf("the Docker config %s: auths[%q].auth is not base64: %v; log in again (docker login %s)", path, key, err, host)
			}
			var ok bool
			if user, pass, ok = strings.Cut(string(raw), ":"); !ok {
				return Credential{}, fmt.Errorf("the Docker config %s: auths[%q].auth is not USER:PASSWORD; log in again (docker login %s)", path, key, host)
			}
		}
		if user == "" && pass == "" {
			continue
		}
		return Credential{Username: user, Secret: pass, Source: src}, nil
	}
	return Credential{}, nil
}

// configKeyHost turns a config.json key ("https://host/v1/", "host") into
// host[:port]; Docker Hub's keys become index.docker.io.
func configKeyHost(key string) string {
	k := strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	k, _, _ = strings.Cut(k, "/")
	return k
}

// helperGet runs docker-credential-NAME get.
func helperGet(name, serverURL, configPath string) (Credential, error) {
	prog := "docker-credential-" + name
	if _, err := exec.LookPath(prog); err != nil {
		return Credential{}, fmt.Errorf("the Docker config %s names the credential helper %q for %s, but %s is not on $PATH: install it, or remove it from the config", configPath, name, serverURL, prog)
	}
	cr, err := client.Get(client.NewShellProgramFunc(prog), serverURL)
	if credentials.IsErrCredentialsNotFound(err) {
		return Credential{}, nil
	}
	if err != nil {
		return Credential{}, fmt.Errorf("asking %s for the credentials of %s: %w", prog, serverURL, err)
	}
	// Helpers return identity tokens with the user "<token>".
	if cr.Username == "<token>" {
		return Credential{Secret: cr.Secret, Source: prog}, nil
	}
	return Credential{Username: cr.Username, Secret: cr.Secret, Source: prog}, nil
}

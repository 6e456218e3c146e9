package push

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"

	"github.com/hoistctl/hoist/discover"
)

// TestExplainRegistryAnswers: the answers a registry gives that the
// round-trip test's registry never does (ECR's missing repository and
// denied push) still turn into errors saying what to do.
func TestExplainRegistryAnswers(t *testing.T) {
	const host = "123456789012.dkr.ecr.eu-central-1.amazonaws.com"
	target, err := ParseTarget(host+"/shop/web", "hoist.local/web:v1")
	if err != nil {
		t.Fatal(err)
	}
	status := func(code int, text, body string) error {
		return fmt.Errorf("wrapped: %w", remoteerrors.ErrUnexpectedStatus{StatusCode: code, Status: text, Body: []byte(body), RequestMethod: "POST", RequestURL: "https://" + host + "/v2/shop/web/blobs/uploads/"})
	}
	c := &Credentials{DockerConfig: "/nonexistent/config.json"}

	err = explain(status(404, "404 Not Found", `{"errors":[{"code":"NAME_UNKNOWN","message":"The repository with name 'shop/web' does not exist in the registry with id '123456789012'"}]}`), "pushing hoist.local/web:v1 to "+target.String(), target, "ecr:GetAuthorizationToken (eu-central-1)", nil, c)
	if !errors.Is(err, discover.ErrNotFound) || !strings.Contains(err.Error(), "aws ecr create-repository --repository-name shop/web --region eu-central-1") || !strings.Contains(err.Error(), "NAME_UNKNOWN") {
		t.Errorf("missing ECR repository: %v", err)
	}
	err = explain(status(403, "403 Forbidden", `{"errors":[{"code":"DENIED","message":"not authorized to perform: ecr:InitiateLayerUpload"}]}`), "pushing hoist.local/web:v1 to "+target.String(), target, "ecr:GetAuthorizationToken (eu-central-1)", nil, c)
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "ecr:InitiateLayerUpload") || !strings.Contains(err.Error(), "refused the credentials from ecr:GetAuthorizationToken") {
		t.Errorf("denied ECR push: %v", err)
	}
	other, _ := ParseTarget("registry.example.com/team/web", "hoist.local/web:v1")
	err = explain(status(500, "500 Internal Server Error", "oops"), "pushing hoist.local/web:v1 to "+other.String(), other, "", nil, c)
	if errors.Is(err, discover.ErrNotFound) || errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "pushing hoist.local/web:v1 to registry.example.com/team/web:v1") {
		t.Errorf("server error: %v", err)
	}
	err = explain(errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority"), "pushing hoist.local/web:v1 to "+other.String(), other, "", nil, c)
	if !strings.Contains(err.Error(), "certificate this machine trusts") {
		t.Errorf("TLS error: %v", err)
	}
}

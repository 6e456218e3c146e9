package push

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	const img = "hoist.local/java-app-1234:v3"
	for ref, want := range map[string]string{
		"127.0.0.1:5000":                                        "127.0.0.1:5000/java-app-1234:v3",
		"127.0.0.1:5000/":                                       "127.0.0.1:5000/java-app-1234:v3",
		"localhost:5000":                                        "localhost:5000/java-app-1234:v3",
		"[::1]:5000":                                            "[::1]:5000/java-app-1234:v3",
		"127.0.0.1:5000/team/app":                               "127.0.0.1:5000/team/app:v3",
		"127.0.0.1:5000/team/app:prod":                          "127.0.0.1:5000/team/app:prod",
		"registry.example.com":                                  "registry.example.com/java-app-1234:v3",
		"registry.example.com:8443/app":                         "registry.example.com:8443/app:v3",
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com":          "123456789012.dkr.ecr.eu-west-1.amazonaws.com/java-app-1234:v3",
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:1.0": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:1.0",
		"myorg/app":                                             "docker.io/myorg/app:v3",
		"app:5000":                                              "docker.io/library/app:5000",
		"app":                                                   "docker.io/library/app:v3",
		"127.0.0.1:5000/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": "127.0.0.1:5000/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	} {
		got, err := ParseTarget(ref, img)
		if err != nil {
			t.Errorf("%s: %v", ref, err)
			continue
		}
		if got.String() != want {
			t.Errorf("%s: %s, want %s", ref, got, want)
		}
	}
	if got, err := ParseTarget("127.0.0.1:5000", "hoist.local/noversion"); err != nil || got.String() != "127.0.0.1:5000/noversion:latest" {
		t.Errorf("untagged image: %v %v", got, err)
	}
	for _, bad := range []string{"", "127.0.0.1:5000/Team/App", "127.0.0.1:5000/app:bad tag", "127.0.0.1:5000/app@sha256:short"} {
		if got, err := ParseTarget(bad, img); err == nil {
			t.Errorf("%q accepted as %s", bad, got)
		} else if bad != "" && !strings.Contains(err.Error(), "--registry") {
			t.Errorf("%q: error does not name the flag: %v", bad, err)
		}
	}
}

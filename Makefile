# hoist — see README.md. `make demo` runs the pipeline on the built-in sample
# app; `make test` runs the tests. Both install what they need first.

GO        ?= go
BIN       := bin/hoist
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.buildVersion=$(VERSION)
WORKSPACE ?= $(CURDIR)/hoist-workspace

.PHONY: all build deps kube-apiserver demo test test-short bench bench-pipeline bench-runtime fuzz vet clean

all: build

# The engine's daemons are tool dependencies pinned in go.mod; they are
# built beside hoist, where it looks for them. Go's build cache makes a
# second build quick.
ENGINE_TOOLS := github.com/containerd/containerd/v2/cmd/containerd \
	github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
	github.com/moby/buildkit/cmd/buildkitd

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/hoist
	$(GO) build -trimpath -o bin/hoist-supervisor ./cmd/hoist-supervisor
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o bin/hoist-entry ./cmd/hoist-entry
	$(GO) build -trimpath -o bin/ $(ENGINE_TOOLS)

# Debian packages the demo and the tests use; already-installed ones are skipped.
deps:
	@.ci/deps.sh

demo: deps build
	@HOIST=$(CURDIR)/$(BIN) WORKSPACE=$(WORKSPACE) .ci/demo.sh

# kube-apiserver (for the tests of the Kubernetes path) is built once from
# k8s.io/kubernetes through the module proxy and cached in /var/cache/hoist.
kube-apiserver:
	$(GO) run ./deploy/kubetest/buildapiserver

# The Kubernetes binaries (the first time only: about 13 minutes on 2 cores,
# then cached) build in the background from the start, beside the Debian
# packages, hoist's own build, go vet and the tests; the tests that need them
# wait for them on a file lock.
test:
	@mkdir -p bin; echo "building the Kubernetes binaries for the tests in the background (once; log: bin/kube-build.log)"; \
	$(GO) run ./deploy/kubetest/buildapiserver > bin/kube-build.log 2>&1 & kube=$$!; \
	status=0; \
	$(MAKE) --no-print-directory deps build && $(GO) vet ./... && $(GO) test -count=1 -timeout 25m ./... || status=$$?; \
	if ! wait $$kube; then echo "building the Kubernetes binaries failed:"; cat bin/kube-build.log; status=1; fi; \
	exit $$status

# Unit tests only: no Tomcat, no real processes.
test-short:
	$(GO) test -short -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./discover/... ./generate ./runtime/lb/

# The local runtime's figures side by side with baselines in one run (root,
# the built binaries; a private engine, purged at the end): deploy to first
# healthy response against the host process, wrk through the load balancer
# against wrk straight to a task, 100 tasks; then the load balancer alone.
bench-runtime: deps build
	$(GO) build -o bin/hoist-bench ./cmd/hoist-bench
	bin/hoist-bench runtime
	$(GO) test -run '^$$' -bench Wrk -benchtime 1x ./runtime/lb/

# Whole-pipeline figures side by side with baselines built in the same run
# (needs root; starts a private engine and the sample app).
bench-pipeline: deps build
	$(GO) build -o bin/hoist-bench ./cmd/hoist-bench
	bin/hoist-bench containerize

# Each fuzz target for a short while; FUZZTIME=5m for longer runs.
FUZZTIME ?= 20s
fuzz:
	@for pkg in ./discover ./discover/appconfig ./generate ./runtime/api ./runtime/schedule; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

clean:
	rm -rf bin hoist-workspace

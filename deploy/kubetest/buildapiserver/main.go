// Command buildapiserver builds (once) and caches the Kubernetes binaries
// the Kubernetes tests use (kube-apiserver, kube-controller-manager,
// kube-scheduler) and prints their paths: `go run
// ./deploy/kubetest/buildapiserver`. Tests build them themselves when they
// are missing, but that takes longer than go test's default timeout on a
// small machine, so CI runs this first.
package main

import (
	"fmt"
	"log"
	"os"

	"github.com/hoistctl/hoist/deploy/kubetest"
)

func main() {
	log.SetFlags(0)
	bins, err := kubetest.Binaries([]string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"}, func(f string, a ...any) { log.Printf(f, a...) })
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
	for _, b := range bins {
		fmt.Println(b)
	}
}

// Command buildapiserver builds (once) and caches the kube-apiserver the
// Kubernetes tests use, and prints its path: `go run
// ./deploy/kubetest/buildapiserver`. Tests build it themselves when it is
// missing, but that takes longer than go test's default timeout on a small
// machine, so CI runs this first.
package main

import (
	"fmt"
	"log"
	"os"

	"github.com/hoistctl/hoist/deploy/kubetest"
)

func main() {
	log.SetFlags(0)
	bin, err := kubetest.KubeAPIServer(func(f string, a ...any) { log.Printf(f, a...) })
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
	fmt.Println(bin)
}

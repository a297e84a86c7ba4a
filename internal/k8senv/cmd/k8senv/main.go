// Command k8senv runs the test API server and its simulated node until
// interrupted, for trying the kubernetes runtime by hand:
//
//	go run ./internal/k8senv/cmd/k8senv   # prints KUBECONFIG=...
//	aima start --runtime kubernetes --kubeconfig $KUBECONFIG --namespace default
//	kubectl get deploy,svc -l aima.managed=true
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/aima-dev/aima/internal/k8senv"
)

func main() {
	env, err := k8senv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8senv:", err)
		os.Exit(1)
	}
	fmt.Printf("KUBECONFIG=%s\n", env.Kubeconfig)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	env.Stop()
}

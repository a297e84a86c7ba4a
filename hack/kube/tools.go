//go:build tools

// Package kube pins the Kubernetes control-plane programs the kubernetes
// runtime's tests start (see build.sh): k8s.io/kubernetes is not meant to be
// required as a library, so each k8s.io/* staging module is pinned to the
// v0.x release that matches it by a replace line.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)

#!/usr/bin/env bash
# build.sh builds kube-apiserver from the k8s.io/kubernetes release pinned in
# go.mod into $AIMA_K8S_CACHE/<version>/ (default ~/.cache/aima-k8s), once:
# a cached binary is reused. It prints the directory holding the binary; the
# kubernetes runtime's tests find it there (or through AIMA_K8S_BIN).
#
# Building takes minutes on two cores, so it runs at low priority.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/usr/local/go/bin:$PATH"
version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' go.mod)
dir="${AIMA_K8S_CACHE:-$HOME/.cache/aima-k8s}/$version"
if [ ! -x "$dir/kube-apiserver" ]; then
	mkdir -p "$dir"
	echo "building kube-apiserver $version into $dir" >&2
	CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "-s -w" -o "$dir/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
	mv "$dir/kube-apiserver.tmp" "$dir/kube-apiserver"
fi
echo "$dir"

// Command kube-proxy is upstream's cmd/kube-proxy/ main, built from the k8s.io/kubernetes module:
// on the real node it routes Service IPs (the API server's `kubernetes` Service, which in-cluster
// clients dial) to their endpoints.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-proxy/app"
)

func main() {
	os.Exit(cli.Run(app.NewProxyCommand()))
}

// Command etcd is upstream etcd's main, built from the go.etcd.io/etcd/server/v3 module
// (etcd's own root module carries replace directives, so it cannot be `go install`ed).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}

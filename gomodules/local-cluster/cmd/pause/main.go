// Command pause holds a real node's Pod sandbox: the process whose namespaces the Pod's
// containers join. No image can be pulled where citykit runs, so the sandbox image the
// real node's containerd asks for is built here from this file (stdlib only). It waits for
// SIGINT or SIGTERM, and reaps orphans when the Pod shares one PID namespace.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for received := range signals {
		if received != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}

#!/usr/bin/env bash
# Debian tools the tests run, installed only where missing: nft checks the firewall ruleset
# host_prep writes (and is kube-proxy's backend on the real node); Mosquitto brokers and
# clients carry a reading across the bridge edge_gateway configures; chromium opens citykit
# report's page headless (--dump-dom, --screenshot); mmdebstrap unpacks the operator image's
# Debian base; containerd, runc and the CNI plugins make the local cluster's real node.
# Everything else the tests need comes from pip and the Go proxy.
set -euo pipefail
for tool in nft mosquitto mosquitto_sub chromium mmdebstrap containerd ctr runc ip; do
  command -v "$tool" >/dev/null || missing=1
done
[ -x /usr/lib/cni/bridge ] || missing=1
if [ -n "${missing:-}" ]; then
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nftables mosquitto \
    mosquitto-clients chromium mmdebstrap containerd runc containernetworking-plugins iproute2
fi

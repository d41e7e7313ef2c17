#!/usr/bin/env bash
# Debian tools the playbooks' tests run, installed only where missing: nft checks the firewall
# ruleset host_prep writes; Mosquitto brokers and clients carry a reading across the bridge
# edge_gateway configures; chromium opens citykit report's page headless (--dump-dom, --screenshot).
# Everything else the tests need comes from pip and the Go proxy.
set -euo pipefail
for tool in nft mosquitto mosquitto_sub chromium; do
  command -v "$tool" >/dev/null || missing=1
done
if [ -n "${missing:-}" ]; then
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nftables mosquitto mosquitto-clients chromium
fi

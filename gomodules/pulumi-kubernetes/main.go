// The pulumi-kubernetes resource plugin, built from the provider's Go module.
//
// Upstream's cmd/pulumi-resource-kubernetes/main.go embeds schema-embed.json and
// terraform-mapping-embed.json, which its release build generates and the module zip does not
// hold. citykit.toolchain.pulumi_kubernetes writes them beside this file in a staging folder
// (the zip's schema.json with the version set, minified; the terraform mapping minified) and
// builds this main there, with the version set by -ldflags as upstream's Makefile does.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}

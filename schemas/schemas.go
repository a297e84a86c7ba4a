// Package schemas holds the JSON Schemas of aima's files, generated from the
// Go types in package state by `make generate` and embedded into the binary.
// Do not edit the .json files by hand.
package schemas

import "embed"

// FS holds <kind>.json for every kind, and settings.json for aima.yaml.
//
//go:embed *.json
var FS embed.FS

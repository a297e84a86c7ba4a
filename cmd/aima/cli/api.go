package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/aima-dev/aima/agent/unit"
)

// newAPICmd is `aima api openapi`: the OpenAPI 3.1 document of the HTTP API,
// generated from the registry of units as GET /api/openapi.json serves it.
func newAPICmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Describe the HTTP API that aima start serves",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "openapi",
		Short: "Print the OpenAPI 3.1 document of the HTTP API (JSON; -o yaml for YAML)",
		Long: "openapi prints the document GET /api/openapi.json serves: one operation per unit\n" +
			"(reads at GET with query parameters and at POST, writes at POST with a JSON body),\n" +
			"with the JSON Schemas of requests and answers, generated from the registry.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printDocument(cmd.OutOrStdout(), g.output, unit.OpenAPI(unit.Default))
		},
	})
	return cmd
}

// printDocument writes a document as its JSON (table and json) or as YAML
// of that JSON, so keys are the JSON names whatever Go types it holds.
func printDocument(w io.Writer, format string, doc any) error {
	if format == "yaml" {
		var b bytes.Buffer
		if err := json.NewEncoder(&b).Encode(doc); err != nil {
			return err
		}
		var v any
		if err := json.Unmarshal(b.Bytes(), &v); err != nil {
			return err
		}
		return yaml.NewEncoder(w).Encode(v)
	}
	if format != "json" && format != "table" && format != "" {
		return fmt.Errorf("--output: unknown format %q (table, json, yaml)", format)
	}
	return writeJSON(w, doc)
}

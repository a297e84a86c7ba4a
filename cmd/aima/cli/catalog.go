package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent/catalog"
	"github.com/aima-dev/aima/agent/device"
	"github.com/aima-dev/aima/state"
)

// newCatalogVerbs are `catalog match` and `catalog apply`.
func newCatalogVerbs(g *globals) []*cobra.Command {
	var vendor, model, arch, osName string
	var vram float64
	match := &cobra.Command{
		Use:   "match [--gpu-vendor V] [--gpu-model M] [--gpu-arch A] [--vram GB] [--os OS]",
		Short: "Rank the recipes for this machine's hardware (detected, or given by the flags)",
		Long: "Rank the recipes: GPU vendor, model, architecture, VRAM bounds and OS each score;\n" +
			"a recipe for another vendor or OS, or needing more VRAM, is left out.\n" +
			"Any GPU flag replaces the detected GPU.",
		Example: "  aima catalog match\n  aima catalog match --gpu-vendor NVIDIA --gpu-model 'RTX 4090' --vram 24",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := map[string]any{"gpu_vendor": vendor, "gpu_model": model, "gpu_arch": arch, "os": osName}
			if cmd.Flags().Changed("vram") {
				p["vram"] = vram
			}
			out, err := callUnit(cmd.Context(), g, "catalog.match", p, false)
			if err != nil {
				return fieldError(err)
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, out)
			}
			if h, ok := out["host"].(catalog.Host); ok {
				fmt.Fprintf(cmd.OutOrStdout(), "hardware (%v): %s\n\n", out["host_source"], describeHost(h))
			}
			items, _ := out["items"].([]map[string]any)
			for _, it := range items {
				it["reasons"] = joinReasons(it["reasons"])
			}
			if err := printList(cmd.OutOrStdout(), "table", items, []string{"name", "score", "engine_type", "reasons"}); err != nil {
				return err
			}
			if ex, _ := out["excluded"].([]map[string]any); len(ex) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "\nleft out:\n")
				for _, it := range ex {
					fmt.Fprintf(cmd.OutOrStdout(), "  %v: %s\n", it["name"], joinReasons(it["reasons"]))
				}
			}
			return nil
		},
	}
	match.Flags().StringVar(&vendor, "gpu-vendor", "", "GPU vendor, e.g. NVIDIA, AMD, or none")
	match.Flags().StringVar(&model, "gpu-model", "", "GPU model, e.g. 'RTX 4090'")
	match.Flags().StringVar(&arch, "gpu-arch", "", "GPU architecture, e.g. ada (default: guessed from the model)")
	match.Flags().Float64Var(&vram, "vram", 0, "GPU memory in GB")
	match.Flags().StringVar(&osName, "os", "", "operating system (default: this one)")

	var service string
	apply := &cobra.Command{
		Use:               "apply RECIPE [--name SERVICE]",
		Short:             "Write a recipe's models and a service in one commit; the sync loop deploys them",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(g, state.KindCatalog),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := callUnit(cmd.Context(), g, "catalog.apply", map[string]any{"recipe": args[0], "service": service}, false)
			if err != nil {
				return flagError(cmd, err)
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, out)
			}
			models, _ := out["models"].([]string)
			fmt.Fprintf(cmd.OutOrStdout(), "catalog/%s applied: model %s, service %v (engine %v)\n", args[0], strings.Join(models, ", "), out["service"], out["engine"])
			return nil
		},
	}
	apply.Flags().StringVar(&service, "name", "", "name of the service (default: the recipe's name)")
	return []*cobra.Command{match, apply}
}

func describeHost(h catalog.Host) string {
	if h.GPUVendor == "none" {
		return fmt.Sprintf("no GPU, %s", h.OS)
	}
	s := device.Label(h.GPUVendor, h.GPUModel) + " (" + gbString(h.VRAMGB) + " GB"
	if h.GPUArch != "" {
		s += ", " + h.GPUArch
	}
	return s + "), " + h.OS
}

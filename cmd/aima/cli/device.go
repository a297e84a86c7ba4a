package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newDeviceCmd is `aima device detect`: GPUs, CPU, memory and OS. No GPU
// is a normal answer.
func newDeviceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "device", Short: "This machine's GPUs, CPU and memory", GroupID: "domains"}
	cmd.AddCommand(&cobra.Command{
		Use:   "detect",
		Short: "Detect GPUs (nvidia-smi, rocm-smi), CPU, memory and OS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := callUnit(cmd.Context(), g, "device.detect", nil, false)
			if err != nil {
				return err
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "gpu:     %v\n", out["gpu"])
			gpus, _ := out["gpus"].([]any)
			for _, x := range gpus {
				m, _ := x.(map[string]any)
				fmt.Fprintf(w, "  [%v] %v %v, %v MiB (%v MiB free)\n", m["index"], m["vendor"], m["name"], m["memory_total_mb"], m["memory_free_mb"])
			}
			fmt.Fprintf(w, "cpu:     %v x %v\n", out["cpus"], cell(out["cpu_model"]))
			fmt.Fprintf(w, "memory:  %v MiB (%v MiB available)\n", out["memory_total_mb"], out["memory_available_mb"])
			fmt.Fprintf(w, "os:      %v/%v\n", out["os"], out["arch"])
			if notes, _ := out["notes"].([]any); len(notes) > 0 {
				for _, n := range notes {
					fmt.Fprintf(w, "note:    %v\n", n)
				}
			}
			return nil
		},
	})
	return cmd
}

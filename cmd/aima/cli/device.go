package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent/device"
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
			printDevice(cmd.OutOrStdout(), out)
			return nil
		},
	})
	return cmd
}

// printDevice writes a device detection as a table: each GPU named by its
// vendor once, its memory in the GB it is sold as (device.GB) and what is
// free to a tenth of a GB.
func printDevice(w io.Writer, out map[string]any) {
	fmt.Fprintf(w, "gpu:     %v\n", out["gpu"])
	gpus, _ := out["gpus"].([]any)
	for _, x := range gpus {
		m, _ := x.(map[string]any)
		vendor, _ := m["vendor"].(string)
		name, _ := m["name"].(string)
		fmt.Fprintf(w, "  [%v] %s, %s GB (%.1f GB free)\n", m["index"], device.Label(vendor, name),
			gbString(device.GB(int64(number(m["memory_total_mb"])))), number(m["memory_free_mb"])/1024)
	}
	fmt.Fprintf(w, "cpu:     %v x %v\n", out["cpus"], cell(out["cpu_model"]))
	fmt.Fprintf(w, "memory:  %.1f GB (%.1f GB available)\n", number(out["memory_total_mb"])/1024, number(out["memory_available_mb"])/1024)
	fmt.Fprintf(w, "os:      %v/%v\n", out["os"], out["arch"])
	if notes, _ := out["notes"].([]any); len(notes) > 0 {
		for _, n := range notes {
			fmt.Fprintf(w, "note:    %v\n", n)
		}
	}
}

// number reads a JSON number (or a Go one).
func number(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case json.Number:
		f, _ := n.Float64()
		return f
	}
	return 0
}

// gbString writes a size in GB: whole when it is, else to a tenth.
func gbString(gb float64) string {
	if gb == math.Trunc(gb) {
		return strconv.FormatFloat(gb, 'f', 0, 64)
	}
	return strconv.FormatFloat(gb, 'f', 1, 64)
}

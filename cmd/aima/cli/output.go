package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"
)

// printList writes items as {"items": [...], "total": N} (json, yaml) or a
// table with the given columns (keys of the item maps).
func printList(w io.Writer, format string, items []map[string]any, columns []string) error {
	if items == nil {
		items = []map[string]any{}
	}
	switch format {
	case "json":
		return writeJSON(w, map[string]any{"items": items, "total": len(items)})
	case "yaml":
		return yaml.NewEncoder(w).Encode(map[string]any{"items": items, "total": len(items)})
	case "table", "":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		head := make([]string, len(columns))
		for i, c := range columns {
			head[i] = strings.ToUpper(c)
		}
		fmt.Fprintln(tw, strings.Join(head, "\t"))
		for _, it := range items {
			row := make([]string, len(columns))
			for i, c := range columns {
				row[i] = cell(it[c])
			}
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		return tw.Flush()
	}
	return fmt.Errorf("--output: unknown format %q (table, json, yaml)", format)
}

// printObject writes one object as json, yaml, or (table) yaml as well,
// since one object reads best as its fields.
func printObject(w io.Writer, format string, obj map[string]any) error {
	switch format {
	case "json":
		return writeJSON(w, obj)
	case "yaml", "table", "":
		return yaml.NewEncoder(w).Encode(obj)
	}
	return fmt.Errorf("--output: unknown format %q (table, json, yaml)", format)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // conditions such as "gpu_temp > 80" stay readable
	return enc.Encode(v)
}

func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case string:
		if v == "" {
			return "-"
		}
		return v
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = cell(e)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + cell(v[k])
		}
		return strings.Join(parts, ",")
	case time.Time:
		return v.Local().Format("2006-01-02 15:04:05")
	case float64:
		if v == float64(int64(v)) {
			return fmt.Sprint(int64(v))
		}
		return fmt.Sprint(v)
	}
	return fmt.Sprint(v)
}

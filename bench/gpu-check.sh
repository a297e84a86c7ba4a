#!/usr/bin/env bash
# gpu-check.sh: run on a machine with a GPU to check what aima makes of it.
# It writes everything into one directory to send back (or to turn into
# unit tests: the raw nvidia-smi/rocm-smi output is what the parsers in
# agent/device are tested on):
#
#   raw-nvidia-smi.csv, raw-rocm-smi.json   the vendor tools, as aima queries them
#   device.json                             aima device detect -o json (GPUs, VRAM free/total, use, temperature)
#   match.txt, match.json                   aima catalog match: the hardware profile and the recipes for this machine
#   run-<model>.json                        aima run <model> --dry-run -o json: what aima run would deploy, and the fit check
#   render-<engine>.json                    aima service render (when this aima has it): the container config per engine
#   chat.txt                                with RUN=1 only: aima run of a small model on the chosen engine, and its answer
#
# Usage: bench/gpu-check.sh [OUTDIR]       (AIMA=path/to/aima, default bin/aima; RUN=1 starts a real engine)
# Nothing here touches the state directory you use: it works in a fresh one under OUTDIR.
set -uo pipefail

AIMA=${AIMA:-bin/aima}
OUT=${1:-gpu-check-$(hostname)-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export AIMA_DIR="$OUT/.aima"
say() { printf '== %s\n' "$*"; }

say "aima: $($AIMA version 2>&1 | head -1)"
$AIMA init >/dev/null || exit 1

say "vendor tools"
if command -v nvidia-smi >/dev/null; then
	nvidia-smi --query-gpu=index,name,uuid,memory.total,memory.used,memory.free,utilization.gpu,temperature.gpu,driver_version \
		--format=csv,noheader,nounits | tee "$OUT/raw-nvidia-smi.csv"
fi
if command -v rocm-smi >/dev/null; then
	rocm-smi --showproductname --showmeminfo vram --showuse --showtemp --json | tee "$OUT/raw-rocm-smi.json"
fi

say "aima device detect"
$AIMA device detect -o json | tee "$OUT/device.json"
$AIMA device detect

say "aima catalog match (the first line is this machine's hardware profile)"
$AIMA catalog match | tee "$OUT/match.txt" | head -15
$AIMA catalog match -o json >"$OUT/match.json"

say "aima run --dry-run: what would be deployed here, and whether it fits"
for m in qwen2.5-0.5b qwen2.5-7b llama3.1-8b qwen2.5-32b qwen2.5-72b; do
	if $AIMA run "$m" --dry-run -o json >"$OUT/run-$m.json" 2>"$OUT/run-$m.err"; then
		printf '%-14s %s\n' "$m" "$(grep -o '"recipe": "[^"]*"' "$OUT/run-$m.json")"
	else
		printf '%-14s refused: %s\n' "$m" "$(cat "$OUT/run-$m.err")"
	fi
done

say "rendered container configs"
if $AIMA service --help 2>/dev/null | grep -q "^  render "; then
	for e in vllm sglang llamacpp ollama; do
		$AIMA model create --name "check-$e" --source huggingface --repo Qwen/Qwen2.5-0.5B-Instruct >/dev/null 2>&1
		$AIMA service create --name "check-$e" --model-id "check-$e" --engine-type "$e" --state stopped >/dev/null 2>&1 || continue
		$AIMA service render "check-$e" -o json >"$OUT/render-$e.json" && echo "render-$e.json"
	done
else
	echo "this aima has no 'service render' yet: skipped"
fi

if [ "${RUN:-}" = 1 ]; then
	say "aima run qwen2.5-0.5b (a real engine; may pull an image and weights)"
	$AIMA run qwen2.5-0.5b --timeout 20m | tee "$OUT/chat.txt"
	$AIMA inference chat -m qwen2.5-0.5b -M 'Say hello in five words.' | tee -a "$OUT/chat.txt"
	$AIMA device detect -o json >"$OUT/device-serving.json" # memory used while serving
	$AIMA service stop qwen2.5-0.5b
fi

say "done: $OUT"

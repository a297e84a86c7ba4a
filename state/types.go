package state

import "github.com/invopop/jsonschema"

// The Go types below are the single source of the JSON Schemas in schemas/
// (go generate ./state, or make generate): field doc comments become the
// schema descriptions, so they are written for the person editing the file.
// A file holds exactly these fields, flat, with no envelope.

// Model is a model that engines can serve: where it comes from and what it is.
type Model struct {
	// Name of the model; equal to the file name (models/<name>.yaml) and used as its id.
	Name string `json:"name" yaml:"name"`
	// Where the model comes from.
	Source string `json:"source,omitempty" yaml:"source,omitempty" jsonschema:"enum=ollama,enum=huggingface,enum=modelscope,enum=local,enum=http"`
	// Repository at the source, e.g. "tinyllama" (ollama) or "Qwen/Qwen2.5-7B-Instruct" (huggingface).
	Repo string `json:"repo,omitempty" yaml:"repo,omitempty"`
	// Tag or revision at the source, e.g. "latest" or "q4_0".
	Tag string `json:"tag,omitempty" yaml:"tag,omitempty"`
	// Local file or directory holding the model; bind-mounted read-only into engine containers. Never put in git.
	Path string `json:"path,omitempty" yaml:"path,omitempty"`
	// Download URL (source http).
	URL string `json:"url,omitempty" yaml:"url,omitempty"`
	// Weight format, e.g. gguf, safetensors, onnx.
	Format string `json:"format,omitempty" yaml:"format,omitempty"`
	// Model type, e.g. llm, vlm, embedding, asr, tts, rerank.
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// Size on disk as a size string, e.g. 4g or 640Mi.
	Size string `json:"size,omitempty" yaml:"size,omitempty" jsonschema:"pattern=^[0-9]+(\\.[0-9]+)?([kKmMgGtT]i?[bB]?)?$"`
	// Checksum of the weights, e.g. sha256:....
	Checksum string `json:"checksum,omitempty" yaml:"checksum,omitempty"`
	// Free-form labels.
	Labels map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
}

// Health says how to probe an engine's readiness.
type Health struct {
	// HTTP path probed on the service's port, e.g. /health.
	Path string `json:"path,omitempty" yaml:"path,omitempty"`
	// Time between probes, a Go duration such as 2s.
	Interval string `json:"interval,omitempty" yaml:"interval,omitempty" jsonschema:"pattern=^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$"`
	// How long startup may take before the service is unhealthy, e.g. 20m for vLLM.
	Timeout string `json:"timeout,omitempty" yaml:"timeout,omitempty" jsonschema:"pattern=^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$"`
}

// Engine is an inference server image and how to run it for a model.
type Engine struct {
	// Name of the engine; equal to the file name. A file named like a built-in engine overrides it.
	Name string `json:"name" yaml:"name"`
	// Engine family, e.g. vllm, ollama, llamacpp, sglang, stub.
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// Container image, e.g. vllm/vllm-openai:v0.6.4.
	Image string `json:"image" yaml:"image"`
	// Images to use, in order, when the main one is neither present nor pullable (mirrors, older tags); a container made from one is not recreated for it.
	AlternativeImages []string `json:"alternative_images,omitempty" yaml:"alternative_images,omitempty"`
	// Entrypoint override.
	Command []string `json:"command,omitempty" yaml:"command,omitempty"`
	// Arguments, as Go templates over {{.Port}}, {{.ModelPath}}, {{.ModelName}}, {{.Repo}}.
	Args []string `json:"args,omitempty" yaml:"args,omitempty"`
	// Port the server listens on inside the container.
	Port int `json:"port,omitempty" yaml:"port,omitempty" jsonschema:"minimum=1,maximum=65535"`
	// Readiness probe.
	Health *Health `json:"health,omitempty" yaml:"health,omitempty"`
	// Environment variables; values may be ${env:NAME} or ${file:NAME} (a file under .local/secrets/), resolved only when a container is created.
	Env map[string]string `json:"env,omitempty" yaml:"env,omitempty"`
	// Whether the engine needs a GPU.
	GPU string `json:"gpu,omitempty" yaml:"gpu,omitempty" jsonschema:"enum=required,enum=optional,enum=none"`
	// API the engine speaks.
	API string `json:"api,omitempty" yaml:"api,omitempty" jsonschema:"enum=openai,enum=ollama"`
	// Images by GPU vendor (nvidia, amd), used instead of image when the service gets GPUs of that vendor (a CUDA or ROCm build).
	GPUImages map[string]string `json:"gpu_images,omitempty" yaml:"gpu_images,omitempty"`
	// IPC namespace: host, as vLLM and SGLang need for tensor parallelism (shared memory between GPU workers).
	IPC string `json:"ipc,omitempty" yaml:"ipc,omitempty" jsonschema:"enum=host"`
	// Size of /dev/shm, e.g. 16g (Docker's default is 64m); an alternative to ipc: host.
	ShmSize string `json:"shm_size,omitempty" yaml:"shm_size,omitempty" jsonschema:"pattern=^[0-9]+(\\.[0-9]+)?([kKmMgGtT]i?[bB]?)?$"`
	// Named volumes shared by every service of the engine, VOLUME:/path[:ro] (a model cache such as hf-cache:/root/.cache/huggingface); in this state directory's namespace.
	Volumes []string `json:"volumes,omitempty" yaml:"volumes,omitempty"`
	// Variables of the agent's environment passed to the container when the local policy allows them and they are set (HF_TOKEN for gated models); never required.
	PassEnv []string `json:"pass_env,omitempty" yaml:"pass_env,omitempty"`
	// Settings a service (or a catalog recipe) may give in its config, each turned into engine arguments and environment: templates over {{.Value}} and the argument fields. A service setting the engine does not take is refused.
	Config map[string]EngineSetting `json:"config,omitempty" yaml:"config,omitempty"`
	// Free-form labels.
	Labels map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
}

// EngineSetting is one setting of an engine's config: what a value becomes.
type EngineSetting struct {
	// What the setting does, for humans.
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Arguments appended for the setting, as templates over {{.Value}} and the argument fields.
	Args []string `json:"args,omitempty" yaml:"args,omitempty"`
	// Environment variables set for the setting; values are templates like args.
	Env map[string]string `json:"env,omitempty" yaml:"env,omitempty"`
}

// JSONSchemaExtend adds what struct tags cannot say (a pattern with commas).
func (Service) JSONSchemaExtend(s *jsonschema.Schema) {
	if p, ok := s.Properties.Get("gpu"); ok {
		p.Pattern = `^(auto|all|none|per_replica|[0-9]+(,[0-9]+)*(;[0-9]+(,[0-9]+)*)*)$`
	}
}

// Service is a model served by an engine, as one container.
type Service struct {
	// Name of the service; equal to the file name.
	Name string `json:"name" yaml:"name"`
	// Name of the model to serve (models/<model>.yaml).
	Model string `json:"model" yaml:"model"`
	// Name of the engine to serve it with (a built-in engine or engines/<engine>.yaml).
	Engine string `json:"engine" yaml:"engine"`
	// Host port; allocated (lowest free from 8000) and written here when absent.
	Port int `json:"port,omitempty" yaml:"port,omitempty" jsonschema:"minimum=1,maximum=65535"`
	// Desired state: running (default) or stopped.
	State string `json:"state,omitempty" yaml:"state,omitempty" jsonschema:"enum=running,enum=stopped"`
	// Number of containers serving the model behind one name (default 1). Replica 1 is the container aima-NAME on port; replica k is aima-NAME_k on the k-1st of replica_ports. The gateway spreads requests over the healthy ones.
	Replicas int `json:"replicas,omitempty" yaml:"replicas,omitempty" jsonschema:"minimum=1,maximum=32"`
	// Host ports of replicas 2..N, in order; allocated (like port) and written here when missing, trimmed when replicas goes down.
	ReplicaPorts []int `json:"replica_ports,omitempty" yaml:"replica_ports,omitempty" jsonschema:"maxItems=31,uniqueItems=true"`
	// Extra environment variables; values may be ${env:NAME} or ${file:NAME}.
	Env map[string]string `json:"env,omitempty" yaml:"env,omitempty"`
	// Extra engine arguments, appended to the engine's.
	Args []string `json:"args,omitempty" yaml:"args,omitempty"`
	// GPUs: auto (default: when the engine wants them and the host has them), all, none, comma-separated device ids such as "0,1", per_replica (replica k gets GPU k-1), or one id set per replica separated by ';' ("0,1;2,3").
	GPU string `json:"gpu,omitempty" yaml:"gpu,omitempty"`
	// Memory limit as a size string, e.g. 16g or 512Mi.
	Memory string `json:"memory,omitempty" yaml:"memory,omitempty" jsonschema:"pattern=^[0-9]+(\\.[0-9]+)?([kKmMgGtT]i?[bB]?)?$"`
	// CPU limit, e.g. 2 or 0.5.
	CPUs float64 `json:"cpus,omitempty" yaml:"cpus,omitempty" jsonschema:"minimum=0"`
	// Host address the port is published on: 127.0.0.1 (this machine only), 0.0.0.0 (every IPv4 address, to serve the LAN), :: (every IPv6 address) or the address of one interface. Default: host_ip in aima.yaml, else 127.0.0.1.
	HostIP string `json:"host_ip,omitempty" yaml:"host_ip,omitempty"`
	// Engine settings (the engine's config lists those it takes), e.g. gpu_memory_utilization: 0.9, max_model_len: 8192.
	Config map[string]any `json:"config,omitempty" yaml:"config,omitempty"`
	// Which hosts of a fleet run it (default: every one).
	Placement *Placement `json:"placement,omitempty" yaml:"placement,omitempty"`
	// Free-form labels, copied onto the container.
	Labels map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
}

// App is any other container aima runs, such as a web UI (Open WebUI).
type App struct {
	// Name of the app; equal to the file name.
	Name string `json:"name" yaml:"name"`
	// Container image.
	Image string `json:"image" yaml:"image"`
	// Published ports as "HOST:CONTAINER".
	Ports []string `json:"ports,omitempty" yaml:"ports,omitempty" jsonschema:"pattern=^[0-9]+:[0-9]+$"`
	// Environment variables; values may be ${env:NAME} or ${file:NAME}.
	Env map[string]string `json:"env,omitempty" yaml:"env,omitempty"`
	// Bind mounts as "SRC:DST" or "SRC:DST:ro".
	Volumes []string `json:"volumes,omitempty" yaml:"volumes,omitempty" jsonschema:"pattern=^[^:]+:[^:]+(:ro|:rw)?$"`
	// Command (arguments to the image's entrypoint).
	Command []string `json:"command,omitempty" yaml:"command,omitempty"`
	// Desired state: running (default) or stopped.
	State string `json:"state,omitempty" yaml:"state,omitempty" jsonschema:"enum=running,enum=stopped"`
	// Host address the ports are published on: 127.0.0.1 (this machine only), 0.0.0.0 (every IPv4 address, to serve the LAN), :: (every IPv6 address) or the address of one interface. Default: host_ip in aima.yaml, else 127.0.0.1.
	HostIP string `json:"host_ip,omitempty" yaml:"host_ip,omitempty"`
	// Which hosts of a fleet run it (default: every one).
	Placement *Placement `json:"placement,omitempty" yaml:"placement,omitempty"`
	// Free-form labels, copied onto the container.
	Labels map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
}

// Hardware is what a recipe is made for.
type Hardware struct {
	// GPU vendor, e.g. NVIDIA, AMD, Apple, or none.
	GPUVendor string `json:"gpu_vendor,omitempty" yaml:"gpu_vendor,omitempty"`
	// GPU model, e.g. RTX 4090.
	GPUModel string `json:"gpu_model,omitempty" yaml:"gpu_model,omitempty"`
	// GPU architecture, e.g. ada, hopper, rdna3.
	GPUArch string `json:"gpu_arch,omitempty" yaml:"gpu_arch,omitempty"`
	// Smallest GPU memory the recipe fits in, in GB.
	MinVRAMGB float64 `json:"min_vram_gb,omitempty" yaml:"min_vram_gb,omitempty" jsonschema:"minimum=0"`
	// Largest GPU memory the recipe is meant for, in GB.
	MaxVRAMGB float64 `json:"max_vram_gb,omitempty" yaml:"max_vram_gb,omitempty" jsonschema:"minimum=0"`
	// Operating system, e.g. linux.
	OS string `json:"os,omitempty" yaml:"os,omitempty"`
}

// RecipeModel is a model a recipe deploys.
type RecipeModel struct {
	// Name the model gets when the recipe is applied.
	Name string `json:"name" yaml:"name"`
	// Where the model comes from.
	Source string `json:"source,omitempty" yaml:"source,omitempty" jsonschema:"enum=ollama,enum=huggingface,enum=modelscope,enum=local,enum=http"`
	// Repository at the source.
	Repo string `json:"repo,omitempty" yaml:"repo,omitempty"`
	// Tag or revision at the source.
	Tag string `json:"tag,omitempty" yaml:"tag,omitempty"`
	// Local path of the weights.
	Path string `json:"path,omitempty" yaml:"path,omitempty"`
	// Download URL.
	URL string `json:"url,omitempty" yaml:"url,omitempty"`
	// Weight format.
	Format string `json:"format,omitempty" yaml:"format,omitempty"`
	// Model type.
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// Size of the weights as a size string, e.g. 4.7g: what the GPU memory it needs is computed from (see the README's knowledge base notes).
	Size string `json:"size,omitempty" yaml:"size,omitempty" jsonschema:"pattern=^[0-9]+(\\.[0-9]+)?([kKmMgGtT]i?[bB]?)?$"`
}

// Recipe is a catalog entry: a tested model + engine + configuration for some hardware.
type Recipe struct {
	// Name of the recipe; equal to the file name.
	Name string `json:"name" yaml:"name"`
	// What the recipe deploys and why.
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Engine type the recipe uses, e.g. vllm.
	EngineType string `json:"engine_type,omitempty" yaml:"engine_type,omitempty"`
	// Hardware the recipe is made for.
	Hardware *Hardware `json:"hardware,omitempty" yaml:"hardware,omitempty"`
	// Models the recipe deploys.
	Models []RecipeModel `json:"models,omitempty" yaml:"models,omitempty"`
	// Engine configuration: args, env and other engine settings.
	Config map[string]any `json:"config,omitempty" yaml:"config,omitempty"`
	// Tags for search.
	Tags []string `json:"tags,omitempty" yaml:"tags,omitempty"`
	// Whether the recipe has been verified on the hardware.
	Verified bool `json:"verified,omitempty" yaml:"verified,omitempty"`
}

// Skill is a piece of operator knowledge: Markdown with YAML front matter.
type Skill struct {
	// Name of the skill; equal to the file name (skills/<name>.md).
	Name string `json:"name" yaml:"name"`
	// One line saying what the skill is for.
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Search keywords.
	Keywords []string `json:"keywords,omitempty" yaml:"keywords,omitempty"`
	// Category, e.g. setup, troubleshooting.
	Category string `json:"category,omitempty" yaml:"category,omitempty"`
	// The Markdown body (in the file: everything after the front matter).
	Content string `json:"content,omitempty" yaml:"content,omitempty"`
	// Whether the skill is used (default true).
	Enabled *bool `json:"enabled,omitempty" yaml:"enabled,omitempty"`
	// Higher first when several skills match.
	Priority int `json:"priority,omitempty" yaml:"priority,omitempty"`
}

// Step is one unit call in a pipeline.
type Step struct {
	// Step id, unique in the pipeline.
	ID string `json:"id" yaml:"id" jsonschema:"pattern=^[a-zA-Z0-9_-]+$"`
	// Unit to call, e.g. model.list or service.start.
	Unit string `json:"unit" yaml:"unit" jsonschema:"pattern=^[a-z]+\\.[a-z_]+$"`
	// Parameters of the unit; may reference ${input.x} and ${steps.<id>.<field>}.
	Params map[string]any `json:"params,omitempty" yaml:"params,omitempty"`
	// Steps that must complete first.
	DependsOn []string `json:"depends_on,omitempty" yaml:"depends_on,omitempty"`
}

// Pipeline is a DAG of unit calls.
type Pipeline struct {
	// Name of the pipeline; equal to the file name.
	Name string `json:"name" yaml:"name"`
	// What the pipeline does.
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// The steps.
	Steps []Step `json:"steps" yaml:"steps" jsonschema:"minItems=1"`
	// When the agent runs the pipeline by itself: five cron fields (e.g. "*/15 * * * *"), @hourly, @daily, @weekly, @monthly, or "@every 10m". A run is skipped while the previous one still goes; times missed while the agent was down are not caught up.
	Schedule string `json:"schedule,omitempty" yaml:"schedule,omitempty"`
}

// Alert is an alert rule.
type Alert struct {
	// Name of the rule; equal to the file name.
	Name string `json:"name" yaml:"name"`
	// Condition, e.g. gpu_temp > 80 or service_down("qwen") or mem_used_pct > 90.
	Condition string `json:"condition" yaml:"condition" jsonschema:"minLength=1"`
	// What to do when it fires (default notify).
	Action string `json:"action,omitempty" yaml:"action,omitempty" jsonschema:"enum=notify,enum=webhook,enum=stop_service,enum=log"`
	// Severity (default warning).
	Severity string `json:"severity,omitempty" yaml:"severity,omitempty" jsonschema:"enum=info,enum=warning,enum=critical"`
	// URL to POST to when action is webhook.
	WebhookURL string `json:"webhook_url,omitempty" yaml:"webhook_url,omitempty"`
	// Minimum time between two notifications, a Go duration such as 5m.
	Cooldown string `json:"cooldown,omitempty" yaml:"cooldown,omitempty" jsonschema:"pattern=^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$"`
	// Whether the rule is evaluated (default true).
	Enabled *bool `json:"enabled,omitempty" yaml:"enabled,omitempty"`
}

// Resource is a resource slot: a budget that services draw from.
type Resource struct {
	// Name of the slot; equal to the file name.
	Name string `json:"name" yaml:"name"`
	// What is budgeted.
	Type string `json:"type,omitempty" yaml:"type,omitempty" jsonschema:"enum=gpu_memory,enum=memory,enum=cpu"`
	// The limit: a size string for memory (24g) or a number of CPUs.
	Limit string `json:"limit,omitempty" yaml:"limit,omitempty"`
	// Higher-priority slots are served first.
	Priority int `json:"priority,omitempty" yaml:"priority,omitempty"`
	// Service names or label selectors (key=value) the slot applies to.
	AppliesTo []string `json:"applies_to,omitempty" yaml:"applies_to,omitempty"`
}

// Host is one machine of a fleet that follows this repository: which
// services and apps run on it is their placement.
type Host struct {
	// Name of the host; equal to the file name. A machine is this host when its local settings say so (aima init --host NAME, aima start --host NAME).
	Name string `json:"name" yaml:"name"`
	// What the host is, for humans.
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Labels placement selects hosts by, e.g. gpu: rtx4090, site: lab.
	Labels map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	// The host agent's API URL, e.g. http://10.0.0.5:9090 (aima fleet status asks it).
	URL string `json:"url,omitempty" yaml:"url,omitempty" jsonschema:"pattern=^https?://"`
}

// Placement says which hosts of a fleet run a service or app: those named
// in hosts, and those whose labels include every one of host_labels. No
// placement: every host.
type Placement struct {
	// Host names (hosts/<name>.yaml).
	Hosts []string `json:"hosts,omitempty" yaml:"hosts,omitempty"`
	// Labels a host must have, every one of them.
	HostLabels map[string]string `json:"host_labels,omitempty" yaml:"host_labels,omitempty"`
}

// Settings is aima.yaml: the agent's own settings for this state directory.
type Settings struct {
	// Format version of the state directory.
	Format int `json:"format" yaml:"format"`
	// Random id of this state directory; the aima.instance label on its containers.
	Instance string `json:"instance" yaml:"instance" jsonschema:"pattern=^[a-z0-9][a-z0-9-]+$"`
	// Address the HTTP API listens on.
	API string `json:"api,omitempty" yaml:"api,omitempty"`
	// Periodic resync interval, a Go duration (default 30s).
	Resync string `json:"resync,omitempty" yaml:"resync,omitempty" jsonschema:"pattern=^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$"`
	// Whether containers of this instance without a file are removed (default true).
	Prune *bool `json:"prune,omitempty" yaml:"prune,omitempty"`
	// Host ports that services without a port are given one from, as FIRST-LAST (default 8000-8999).
	PortRange string `json:"port_range,omitempty" yaml:"port_range,omitempty" jsonschema:"pattern=^[0-9]+-[0-9]+$"`
	// Host address the ports of services and apps are published on when their file sets no host_ip (default 127.0.0.1: this machine only; 0.0.0.0 serves the LAN).
	HostIP string `json:"host_ip,omitempty" yaml:"host_ip,omitempty"`
	// Git remote to follow, as remote/branch.
	Remote string `json:"remote,omitempty" yaml:"remote,omitempty"`
}

package agent

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/plan"
	"github.com/aima-dev/aima/agent/stub"
	"github.com/aima-dev/aima/state"
)

// ModelMount is where a model's path is mounted in engine containers.
const ModelMount = "/models"

// Object identifies a service or app: "service/qwen".
type Object struct{ Kind, Name string }

func (o Object) String() string { return o.Kind + "/" + o.Name }

// Wanted is one service or app file as the loop sees it: the desired
// container when it could be rendered, or why it could not.
type Wanted struct {
	Object  Object
	Running bool
	Desired *plan.Desired // nil when Err is set or the object is stopped; replica 1 of a service of several
	// More are the containers of replicas 2..N of a service (replicas > 1),
	// each on its own host port.
	More    []*plan.Desired
	Err     error        // a reason the container cannot be made (terminal until the files change)
	Health  state.Health // the engine's readiness probe (services)
	Port    int          // host port of the endpoint
	HostIP  string       // host address the ports are published on (Endpoint derives the reachable one)
	Model   string
	Service *state.Service // the service file (services only)
	// Elsewhere, when set, is why the object does not run on this machine
	// of a fleet ("placed on host(s) b; this is host a"): it is not
	// running here, whatever its state.
	Elsewhere string
	// Ollama is the name the service's model is pulled by when its engine
	// speaks Ollama's API ("qwen2.5:7b"); see ollamaReady.
	Ollama string
	// SecretEnv are the env keys whose values come from ${env:} or
	// ${file:}: a render shown to people shows the reference instead.
	SecretEnv map[string]string
}

// Host is what rendering needs to know about the machine.
type Host struct {
	GPUs    int // NVIDIA GPUs usable by containers
	AMDGPUs int // AMD GPUs (ROCm: /dev/kfd), used when there is no NVIDIA one
	// Env resolves ${env:NAME}; nil means os.LookupEnv.
	Env func(string) (string, bool)
	// Cluster: the containers run on a cluster (the kubernetes runtime),
	// which places them, allocates their GPUs and probes their health.
	// Placement becomes the spec's node selector instead of deciding
	// whether this machine runs the object, GPUs are counted rather than
	// looked for on this machine (see gpus), and the engine's health check
	// goes into the spec (Probe).
	Cluster bool
}

// lookup is how ${env:NAME} is resolved on this host.
func (h Host) lookup() func(string) (string, bool) {
	if h.Env != nil {
		return h.Env
	}
	return os.LookupEnv
}

// Render reads the service and app files and turns each into a desired
// container. It never fails as a whole: an object that cannot be rendered
// carries its reason in Wanted.Err.
func Render(st *state.Store, host Host, revision string) ([]Wanted, error) {
	var out []Wanted
	// aima.yaml's host_ip is the default publish address of every service
	// and app (read each pass: editing it is a change like any other), and
	// 127.0.0.1 when it has none: nothing is exposed beyond this machine
	// unless a file says so. Containers of an aima that published on every
	// address are recreated once (see plan.Hash).
	set, err := st.SettingsInEffect()
	if err != nil {
		return nil, err
	}
	services, err := st.List(state.KindService)
	if err != nil {
		return nil, err
	}
	refs := &refs{st: st, objs: map[string]state.Object{}}
	placed := st.Placer()
	for _, e := range services {
		if e.Object == nil {
			continue // invalid file with no valid committed version
		}
		svc := e.Object.(*state.Service)
		if host.Cluster {
			out = append(out, clusterPlaced(renderService(st, refs, host, set, svc, revision), svc.Placement))
			continue
		}
		if ok, why := placed(svc.Placement); !ok {
			out = append(out, Wanted{Object: Object{"service", svc.Name}, Elsewhere: why, Model: svc.Model, Service: svc})
			continue
		}
		out = append(out, renderService(st, refs, host, set, svc, revision))
	}
	apps, err := st.List(state.KindApp)
	if err != nil {
		return nil, err
	}
	for _, e := range apps {
		if e.Object == nil {
			continue
		}
		app := e.Object.(*state.App)
		if host.Cluster {
			out = append(out, clusterPlaced(renderApp(st, host, set, app, revision), app.Placement))
			continue
		}
		if ok, why := placed(app.Placement); !ok {
			out = append(out, Wanted{Object: Object{"app", app.Name}, Elsewhere: why})
			continue
		}
		out = append(out, renderApp(st, host, set, app, revision))
	}
	return out, nil
}

// clusterPlaced gives w's containers the node selector of a placement on a
// cluster: host_labels are node labels, and hosts (one of them) is the
// node's name. A placement on several named hosts is not one selector.
func clusterPlaced(w Wanted, p *state.Placement) Wanted {
	if p == nil || (len(p.Hosts) == 0 && len(p.HostLabels) == 0) || w.Err != nil {
		return w
	}
	if len(p.Hosts) > 1 {
		w.Err = fmt.Errorf("placement: hosts %s: on a cluster a placement names one node, or labels the nodes (host_labels)", strings.Join(p.Hosts, ", "))
		w.Desired, w.More = nil, nil
		return w
	}
	sel := maps.Clone(p.HostLabels)
	if sel == nil {
		sel = map[string]string{}
	}
	if len(p.Hosts) == 1 {
		sel["kubernetes.io/hostname"] = p.Hosts[0]
	}
	for _, d := range w.All() {
		d.Spec.NodeSelector = sel
	}
	return w
}

// refs loads the engines and models services refer to, once per render:
// fifty services of one model read its file once.
type refs struct {
	st   *state.Store
	objs map[string]state.Object // "kind/name" → object, nil when missing
}

func (r *refs) get(k *state.Kind, name string) state.Object {
	key := k.Name + "/" + name
	if o, ok := r.objs[key]; ok {
		return o
	}
	var o state.Object
	if e, err := r.st.Get(k, name); err == nil {
		o = e.Object
	}
	r.objs[key] = o
	return o
}

func renderService(st *state.Store, refs *refs, host Host, set state.Settings, svc *state.Service, revision string) Wanted {
	w := Wanted{Object: Object{"service", svc.Name}, Running: svc.State != "stopped", Port: svc.Port, HostIP: set.PublishIP(svc.HostIP), Model: svc.Model, Service: svc}
	eo := refs.get(state.KindEngine, svc.Engine)
	if eo == nil {
		w.Err = fmt.Errorf("engine %q: not found", svc.Engine)
		return w
	}
	eng := eo.(*state.Engine)
	if err := breaksPolicy(st, "engine", eng); err != nil {
		w.Err = err // a built-in engine, or a policy made stricter since the file was committed
		return w
	}
	if eng.Health != nil {
		w.Health = *eng.Health
	}
	if !w.Running {
		return w
	}
	mo := refs.get(state.KindModel, svc.Model)
	if mo == nil {
		w.Err = fmt.Errorf("model %q: not found", svc.Model)
		return w
	}
	model := mo.(*state.Model)
	if err := breaksPolicy(st, "model", model); err != nil {
		w.Err = err
		return w
	}
	if eng.API == "ollama" {
		w.Ollama = ollamaName(model.Repo, model.Tag, model.Name)
	}
	cport := eng.Port
	if cport == 0 {
		cport = 8000
	}
	if err := state.EngineSettingsProblem(eng, svc.Config); err != nil {
		w.Err = fmt.Errorf("config: %v", err) // the engine changed since the service was written
		return w
	}
	base := container.Spec{
		Image:      eng.Image,
		Entrypoint: eng.Command,
		IPC:        eng.IPC,
		Labels:     map[string]string{container.LabelEngine: eng.Name, container.LabelModel: model.Name},
	}
	for k, v := range svc.Labels {
		base.Labels[k] = v
	}
	data := state.ArgData{Port: cport, ModelName: model.Name, Repo: model.Repo}
	if model.Path != "" {
		if !filepath.IsAbs(model.Path) {
			w.Err = fmt.Errorf("model %q: path %q must be absolute", model.Name, model.Path)
			return w
		}
		fi, err := os.Stat(model.Path)
		if err != nil {
			w.Err = fmt.Errorf("model %q: path %s: %v", model.Name, model.Path, err)
			return w
		}
		target := ModelMount + "/" + model.Name
		if !fi.IsDir() {
			target += "/" + filepath.Base(model.Path)
		}
		base.Mounts = []container.Mount{{Source: model.Path, Target: target, ReadOnly: true}}
		data.ModelPath = target
	}
	for _, v := range eng.Volumes {
		name, target, _ := strings.Cut(v, ":")
		target, mode, _ := strings.Cut(target, ":")
		// In this instance's namespace, as app volumes: shared by the
		// engine's services here, never another state directory's.
		base.Mounts = append(base.Mounts, container.Mount{Source: set.Instance + "_" + name, Target: target, ReadOnly: mode == "ro"})
	}
	var err error
	if eng.ShmSize != "" {
		if base.ShmSize, err = ParseSize(eng.ShmSize); err != nil {
			w.Err = fmt.Errorf("engine %q: shm_size: %v", eng.Name, err)
			return w
		}
	}
	if svc.Memory != "" {
		if base.Memory, err = ParseSize(svc.Memory); err != nil {
			w.Err = fmt.Errorf("memory: %v", err)
			return w
		}
	}
	base.NanoCPUs = int64(svc.CPUs * 1e9)
	env := map[string]string{}
	for k, v := range eng.Env {
		env[k] = v
	}
	if len(eng.PassEnv) > 0 {
		pol, _ := st.Policy()
		lookup := host.lookup()
		for _, name := range eng.PassEnv {
			// Passed when the owner allows it and has it set; an engine
			// never fails for the want of an optional token.
			if _, set := env[name]; !set && pol.EnvAllowed(name) {
				if _, ok := lookup(name); ok {
					env[name] = "${env:" + name + "}"
				}
			}
		}
	}
	for k, v := range svc.Env {
		env[k] = v
	}
	w.SecretEnv = secretRefs(env)

	n := svc.ReplicaCount()
	ports := svc.Ports()
	for k := 1; k <= n; k++ {
		if ports[k-1] == 0 {
			w.Err = fmt.Errorf("no port for replica %d: set replica_ports in services/%s.yaml (the agent, or aima sync, gives each replica one when it commits the file)", k, svc.Name)
			if k == 1 {
				w.Err = fmt.Errorf("no port: set port in services/%s.yaml (the agent, or aima sync, gives it one when it commits the file)", svc.Name)
			}
			w.Desired, w.More = nil, nil
			return w
		}
		spec, err := replicaSpec(st, base, eng, svc, host, data, env, k)
		if err != nil {
			if n > 1 {
				err = fmt.Errorf("replica %d: %v", k, err)
			}
			w.Err, w.Desired, w.More = err, nil, nil
			return w
		}
		spec.Name = plan.ContainerName(set.Instance, "service", svc.Name, k)
		spec.Ports = []container.Port{{HostIP: w.HostIP, HostPort: ports[k-1], ContainerPort: cport}}
		if host.Cluster && w.Health.Path != "" {
			spec.Probe = &container.Probe{Path: w.Health.Path}
			spec.Probe.Interval, _ = time.ParseDuration(w.Health.Interval)
			spec.Probe.Timeout, _ = time.ParseDuration(w.Health.Timeout)
		}
		d := &plan.Desired{Kind: "service", Name: svc.Name, Replica: k, Spec: spec, Running: true, Revision: revision, Alternatives: eng.AlternativeImages}
		if k == 1 {
			d.Replica = 0
			w.Desired = d
		} else {
			w.More = append(w.More, d)
		}
	}
	return w
}

// replicaSpec completes base for replica k (from 1): what depends on its
// GPUs — the device request or devices, the vendor's image, the engine
// arguments (tensor parallelism is the number of GPUs) — and the settings
// of the service's config.
func replicaSpec(st *state.Store, base container.Spec, eng *state.Engine, svc *state.Service, host Host, data state.ArgData, env map[string]string, k int) (container.Spec, error) {
	spec := base
	spec.Labels = maps.Clone(base.Labels)
	spec.Mounts = slices.Clone(base.Mounts)
	g, err := gpus(replicaGPU(svc.GPU, k), eng, host)
	if err != nil {
		return spec, err
	}
	env = maps.Clone(env)
	switch g.vendor {
	case "nvidia":
		spec.GPUs = g.ids
	case "amd":
		// ROCm's containers see every GPU through /dev/kfd and /dev/dri
		// (AMD's Docker guide); the ids choose among them.
		spec.Devices = []string{"/dev/kfd", "/dev/dri"}
		spec.GroupAdd = []string{"video"}
		if len(g.ids) > 0 && g.ids[0] != "all" {
			env["HIP_VISIBLE_DEVICES"] = strings.Join(g.ids, ",")
		}
	}
	if img := eng.GPUImages[g.vendor]; img != "" {
		spec.Image = img
	}
	if g.count > 1 {
		data.TensorParallel = g.count
	}
	// Bounded templates: a file or built-in that slipped past validation
	// is refused here, before Docker is asked anything.
	args, err := state.ExpandArgs(eng.Args, data)
	if err != nil {
		return spec, fmt.Errorf("engine %q: %v", eng.Name, err)
	}
	for _, key := range slices.Sorted(maps.Keys(svc.Config)) {
		set := eng.Config[key]
		data.Value = fmt.Sprint(svc.Config[key])
		more, err := state.ExpandArgs(set.Args, data)
		if err != nil {
			return spec, fmt.Errorf("config %s: %v", key, err)
		}
		args = append(args, more...)
		for _, name := range slices.Sorted(maps.Keys(set.Env)) {
			v, err := state.ExpandArgs([]string{set.Env[name]}, data)
			if err != nil {
				return spec, fmt.Errorf("config %s: env %s: %v", key, name, err)
			}
			if len(v) == 1 {
				env[name] = v[0]
			}
		}
	}
	if cmd := append(args, svc.Args...); len(cmd) > 0 {
		spec.Cmd = cmd
	}
	if spec.Env, err = resolveEnv(st, host, env); err != nil {
		return spec, err
	}
	return spec, nil
}

// All are the desired containers of the object: Desired, then More (none
// when Desired is nil).
func (w Wanted) All() []*plan.Desired {
	if w.Desired == nil {
		return nil
	}
	return append([]*plan.Desired{w.Desired}, w.More...)
}

// replicaGPU is the gpu setting of replica k (from 1) of a service: for
// per_replica the k-1st GPU; for one set per replica ("0,1;2,3") the kth
// set; else the setting itself, the same for every replica.
func replicaGPU(gpu string, k int) string {
	if gpu == "per_replica" {
		return strconv.Itoa(k - 1)
	}
	if sets := strings.Split(gpu, ";"); len(sets) > 1 && k <= len(sets) {
		return strings.TrimSpace(sets[k-1])
	}
	return gpu
}

func renderApp(st *state.Store, host Host, set state.Settings, app *state.App, revision string) Wanted {
	w := Wanted{Object: Object{"app", app.Name}, Running: app.State != "stopped", HostIP: set.PublishIP(app.HostIP)}
	if !w.Running {
		return w
	}
	if err := breaksPolicy(st, "app", app); err != nil {
		w.Err = err
		return w
	}
	spec := container.Spec{Name: plan.ContainerName(set.Instance, "app", app.Name, 1), Image: app.Image, Cmd: app.Command, Labels: map[string]string{}}
	for k, v := range app.Labels {
		spec.Labels[k] = v
	}
	for _, p := range app.Ports {
		h, c, _ := strings.Cut(p, ":")
		hp, _ := strconv.Atoi(h)
		cp, _ := strconv.Atoi(c)
		spec.Ports = append(spec.Ports, container.Port{HostIP: w.HostIP, HostPort: hp, ContainerPort: cp})
		if w.Port == 0 {
			w.Port = hp
		}
	}
	for _, v := range app.Volumes {
		parts := strings.Split(v, ":")
		m := container.Mount{Source: parts[0], Target: parts[1], ReadOnly: len(parts) > 2 && parts[2] == "ro"}
		if !filepath.IsAbs(m.Source) {
			// A named volume, in this instance's namespace as compose
			// prefixes the project: two state directories (or a pushed
			// file) never reach another's volume by naming it.
			if !state.VolumeName(m.Source) {
				w.Err = fmt.Errorf("volumes: %q: the source must be an absolute host path or a volume name", v)
				return w
			}
			m.Source = set.Instance + "_" + m.Source
		}
		spec.Mounts = append(spec.Mounts, m)
	}
	var err error
	w.SecretEnv = secretRefs(app.Env)
	if spec.Env, err = resolveEnv(st, host, app.Env); err != nil {
		w.Err = err
		return w
	}
	w.Desired = &plan.Desired{Kind: "app", Name: app.Name, Spec: spec, Running: true, Revision: revision}
	return w
}

// secretRefs are the env keys whose values are secret references, with
// the reference.
func secretRefs(env map[string]string) map[string]string {
	var out map[string]string
	for k, v := range env {
		if _, _, _, ok := state.SecretRef(v); ok {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// RenderObject is the containers of a service's replicas (or an app's
// one container) as they would be created now, with every label, and
// with the values of secret env variables shown as their references
// (${env:HF_TOKEN}): what `aima service render` prints.
func (s *Syncer) RenderObject(obj Object) ([]container.Spec, error) {
	wanted, err := Render(s.Store, s.Host, s.head())
	if err != nil {
		return nil, err
	}
	for _, w := range wanted {
		if w.Object != obj {
			continue
		}
		if !w.Running {
			return nil, fmt.Errorf("%s: %w: it is stopped and has no container (aima %s start %s)", obj, state.ErrConflict, obj.Kind, obj.Name)
		}
		if w.Err != nil {
			return nil, fmt.Errorf("%s: %w: %v", obj, state.ErrInvalid, w.Err)
		}
		var out []container.Spec
		for _, d := range w.All() {
			spec := d.Spec
			spec.Labels = plan.Labels(*d, s.Instance)
			spec.Env = slices.Clone(spec.Env)
			for i, kv := range spec.Env {
				k, _, _ := strings.Cut(kv, "=")
				if ref, ok := w.SecretEnv[k]; ok {
					spec.Env[i] = k + "=" + ref
				}
			}
			out = append(out, spec)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: %w", obj, state.ErrNotFound)
}

// breaksPolicy checks an object against the local policy once more when a
// container is rendered from it: files were checked when they were loaded,
// but built-in engines were not, and the policy may have become stricter.
func breaksPolicy(st *state.Store, kind string, o state.Object) error {
	pol, _ := st.Policy()
	if probs := pol.Check(o); len(probs) > 0 {
		p := probs[0]
		return fmt.Errorf("%s %q: %s: %s", kind, o.ObjectName(), strings.TrimPrefix(p.Field, "/"), p.Message)
	}
	return nil
}

// resolveEnv turns the env map into sorted KEY=VALUE pairs, resolving
// ${env:NAME} from the agent's environment and ${file:NAME} from
// .local/secrets/NAME. Resolved values exist only in the container spec;
// they are never written to the state files or to git.
func resolveEnv(st *state.Store, host Host, env map[string]string) ([]string, error) {
	lookup := host.lookup()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		v := env[k]
		if src, name, _, ok := state.SecretRef(v); ok {
			switch src {
			case "env":
				if pol, _ := st.Policy(); !pol.EnvAllowed(name) {
					return nil, fmt.Errorf("env %s: %s: policy: the agent's environment variable %s is not allowed (add it to env in %s)", k, v, name, state.PolicyPath)
				}
				val, ok := lookup(name)
				if !ok {
					return nil, fmt.Errorf("env %s: %s is not set in the agent's environment", k, v)
				}
				v = val
			case "file":
				b, err := os.ReadFile(filepath.Join(st.Dir, ".local", "secrets", name))
				if err != nil {
					return nil, fmt.Errorf("env %s: %s: %v", k, v, err)
				}
				v = strings.TrimRight(string(b), "\r\n")
			}
		}
		out = append(out, k+"="+v)
	}
	return out, nil
}

// gpuPlan is the GPUs of one container: the vendor ("nvidia", "amd" or
// "" for none), the ids (["all"] for all) and how many that is.
type gpuPlan struct {
	vendor string
	ids    []string
	count  int
}

// gpus decides the GPUs of a service container: NVIDIA's when the host
// has NVIDIA GPUs, else AMD's.
//
// On a cluster the GPUs are the nodes' and counted, not looked for here:
// auto asks one for an engine that requires a GPU (none for an optional
// one: a CPU pod schedules anywhere), all asks one (a pod runs on one node),
// a list of ids asks as many as it names; host.AMDGPUs > 0 makes them AMD's.
func gpus(want string, eng *state.Engine, host Host) (gpuPlan, error) {
	if host.Cluster {
		return clusterGPUs(want, eng, host)
	}
	vendor, have, what := "nvidia", host.GPUs, "NVIDIA"
	if have == 0 && host.AMDGPUs > 0 {
		vendor, have, what = "amd", host.AMDGPUs, "AMD"
	}
	all := gpuPlan{vendor: vendor, ids: []string{"all"}, count: have}
	switch want {
	case "none":
		if eng.GPU == "required" {
			return gpuPlan{}, fmt.Errorf("engine %q requires a GPU but the service says gpu: none", eng.Name)
		}
		return gpuPlan{}, nil
	case "all":
		if have == 0 {
			return gpuPlan{}, fmt.Errorf("gpu: all, but no GPU was detected on this host")
		}
		return all, nil
	case "", "auto":
		switch {
		case eng.GPU == "required" && have == 0:
			return gpuPlan{}, fmt.Errorf("engine %q requires a GPU and none was detected on this host (nvidia-smi, /dev/kfd); use an engine that runs on CPU (llamacpp, ollama, stub)", eng.Name)
		case (eng.GPU == "required" || eng.GPU == "optional") && have > 0:
			return all, nil
		}
		return gpuPlan{}, nil
	}
	if have == 0 {
		return gpuPlan{}, fmt.Errorf("gpu: %s, but no GPU was detected on this host", want)
	}
	ids := strings.Split(want, ",")
	for _, id := range ids {
		if n, err := strconv.Atoi(id); err == nil && n >= have {
			return gpuPlan{}, fmt.Errorf("gpu: GPU %d does not exist: this host has %d %s GPU(s), 0 to %d", n, have, what, have-1)
		}
	}
	return gpuPlan{vendor: vendor, ids: ids, count: len(ids)}, nil
}

func clusterGPUs(want string, eng *state.Engine, host Host) (gpuPlan, error) {
	vendor := "nvidia"
	if host.AMDGPUs > 0 {
		vendor = "amd"
	}
	switch want {
	case "none":
		if eng.GPU == "required" {
			return gpuPlan{}, fmt.Errorf("engine %q requires a GPU but the service says gpu: none", eng.Name)
		}
		return gpuPlan{}, nil
	case "", "auto":
		if eng.GPU != "required" {
			return gpuPlan{}, nil
		}
		return gpuPlan{vendor: vendor, ids: []string{"all"}, count: 1}, nil
	case "all":
		return gpuPlan{vendor: vendor, ids: []string{"all"}, count: 1}, nil
	}
	ids := strings.Split(want, ",")
	return gpuPlan{vendor: vendor, ids: ids, count: len(ids)}, nil
}

// ParseSize parses a size string (16g, 512Mi, 1.5G, 1024) into bytes. As
// in Docker, the units are binary: 16g and 16Gi are both 16 GiB.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(s, "b"), "B")
	t = strings.TrimSuffix(t, "i")
	mult := 1.0
	if n := len(t); n > 0 {
		if i := strings.IndexByte("kmgt", strings.ToLower(t[n-1:])[0]); i >= 0 {
			mult = math.Pow(1024, float64(i+1))
			t = t[:n-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a size (16g, 512Mi, ...)", s)
	}
	return int64(f * mult), nil
}

// isStubImage reports whether an engine image is the locally built stub.
func isStubImage(image string) bool {
	return image == stub.ImageRepo || stub.IsImage(image)
}

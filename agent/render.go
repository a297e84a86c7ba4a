package agent

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

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
}

// Host is what rendering needs to know about the machine.
type Host struct {
	GPUs int // NVIDIA GPUs usable by containers
	// Env resolves ${env:NAME}; nil means os.LookupEnv.
	Env func(string) (string, bool)
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
	for _, e := range services {
		if e.Object == nil {
			continue // invalid file with no valid committed version
		}
		out = append(out, renderService(st, refs, host, set, e.Object.(*state.Service), revision))
	}
	apps, err := st.List(state.KindApp)
	if err != nil {
		return nil, err
	}
	for _, e := range apps {
		if e.Object == nil {
			continue
		}
		out = append(out, renderApp(st, host, set, e.Object.(*state.App), revision))
	}
	return out, nil
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
	var err error
	if svc.Port == 0 {
		w.Err = fmt.Errorf("no port: set port in services/%s.yaml (the agent, or aima sync, gives it one when it commits the file)", svc.Name)
		return w
	}
	cport := eng.Port
	if cport == 0 {
		cport = 8000
	}
	spec := container.Spec{
		Name:       plan.Name("service", svc.Name),
		Image:      eng.Image,
		Entrypoint: eng.Command,
		Ports:      []container.Port{{HostIP: w.HostIP, HostPort: svc.Port, ContainerPort: cport}},
		Labels:     map[string]string{container.LabelEngine: eng.Name, container.LabelModel: model.Name},
	}
	for k, v := range svc.Labels {
		spec.Labels[k] = v
	}
	data := state.ArgData{Port: cport, ModelName: model.Name, Repo: model.Repo}
	if model.Path != "" {
		if !filepath.IsAbs(model.Path) {
			w.Err = fmt.Errorf("model %q: path %q must be absolute", model.Name, model.Path)
			return w
		}
		if _, err := os.Stat(model.Path); err != nil {
			w.Err = fmt.Errorf("model %q: path %s: %v", model.Name, model.Path, err)
			return w
		}
		target := ModelMount + "/" + model.Name
		if fi, err := os.Stat(model.Path); err == nil && !fi.IsDir() {
			target += "/" + filepath.Base(model.Path)
		}
		spec.Mounts = []container.Mount{{Source: model.Path, Target: target, ReadOnly: true}}
		data.ModelPath = target
	}
	// Bounded templates: a file or built-in that slipped past validation
	// is refused here, before Docker is asked anything.
	args, err := state.ExpandArgs(eng.Args, data)
	if err != nil {
		w.Err = fmt.Errorf("engine %q: %v", eng.Name, err)
		return w
	}
	spec.Cmd = append(spec.Cmd, args...)
	spec.Cmd = append(spec.Cmd, svc.Args...)
	env := map[string]string{}
	for k, v := range eng.Env {
		env[k] = v
	}
	for k, v := range svc.Env {
		env[k] = v
	}
	if spec.Env, err = resolveEnv(st, host, env); err != nil {
		w.Err = err
		return w
	}
	n := svc.ReplicaCount()
	if spec.GPUs, err = gpus(replicaGPU(svc.GPU, 1), eng, host); err != nil {
		w.Err = err
		return w
	}
	if svc.Memory != "" {
		if spec.Memory, err = ParseSize(svc.Memory); err != nil {
			w.Err = fmt.Errorf("memory: %v", err)
			return w
		}
	}
	spec.NanoCPUs = int64(svc.CPUs * 1e9)
	w.Desired = &plan.Desired{Kind: "service", Name: svc.Name, Spec: spec, Running: true, Revision: revision, Alternatives: eng.AlternativeImages}
	ports := svc.Ports()
	for k := 2; k <= n; k++ {
		if ports[k-1] == 0 {
			w.Err = fmt.Errorf("no port for replica %d: set replica_ports in services/%s.yaml (the agent, or aima sync, gives each replica one when it commits the file)", k, svc.Name)
			w.Desired, w.More = nil, nil
			return w
		}
		r := *w.Desired
		r.Replica = k
		r.Spec.Name = plan.ReplicaName("service", svc.Name, k)
		r.Spec.Ports = []container.Port{{HostIP: w.HostIP, HostPort: ports[k-1], ContainerPort: cport}}
		if r.Spec.GPUs, err = gpus(replicaGPU(svc.GPU, k), eng, host); err != nil {
			w.Err = fmt.Errorf("replica %d: %v", k, err)
			w.Desired, w.More = nil, nil
			return w
		}
		w.More = append(w.More, &r)
	}
	return w
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
	spec := container.Spec{Name: plan.Name("app", app.Name), Image: app.Image, Cmd: app.Command, Labels: map[string]string{}}
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
	if spec.Env, err = resolveEnv(st, host, app.Env); err != nil {
		w.Err = err
		return w
	}
	w.Desired = &plan.Desired{Kind: "app", Name: app.Name, Spec: spec, Running: true, Revision: revision}
	return w
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
	lookup := host.Env
	if lookup == nil {
		lookup = os.LookupEnv
	}
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

// gpus decides the GPU request of a service container.
func gpus(want string, eng *state.Engine, host Host) ([]string, error) {
	switch want {
	case "none":
		if eng.GPU == "required" {
			return nil, fmt.Errorf("engine %q requires a GPU but the service says gpu: none", eng.Name)
		}
		return nil, nil
	case "all":
		if host.GPUs == 0 {
			return nil, fmt.Errorf("gpu: all, but no NVIDIA GPU was detected on this host")
		}
		return []string{"all"}, nil
	case "", "auto":
		switch {
		case eng.GPU == "required" && host.GPUs == 0:
			return nil, fmt.Errorf("engine %q requires an NVIDIA GPU and none was detected on this host (nvidia-smi); use an engine that runs on CPU (llamacpp, ollama, stub)", eng.Name)
		case (eng.GPU == "required" || eng.GPU == "optional") && host.GPUs > 0:
			return []string{"all"}, nil
		}
		return nil, nil
	}
	if host.GPUs == 0 {
		return nil, fmt.Errorf("gpu: %s, but no NVIDIA GPU was detected on this host", want)
	}
	ids := strings.Split(want, ",")
	for _, id := range ids {
		if n, err := strconv.Atoi(id); err == nil && n >= host.GPUs {
			return nil, fmt.Errorf("gpu: GPU %d does not exist: this host has %d NVIDIA GPU(s), 0 to %d", n, host.GPUs, host.GPUs-1)
		}
	}
	return ids, nil
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

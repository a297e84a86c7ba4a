package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/aima-dev/aima/agent/container"
)

// Annotations aima keeps on its Deployments. The container's spec travels
// whole in one of them, so Start and Stop apply the same object again and
// List and Inspect read back exactly what was asked for (labels Kubernetes
// would refuse as label values, the address a port was asked on).
const (
	// AnnotationSpec is the container.Spec as JSON.
	AnnotationSpec = "aima.container-spec"
	// AnnotationStopped is set (to the time) while the container is stopped
	// after having run: replicas 0 is then "exited", not "created".
	AnnotationStopped = "aima.stopped"
)

// Labels of every object besides the spec's own (those valid as Kubernetes
// labels): the standard ones, the Pod selector among them.
const (
	labelInstance  = "app.kubernetes.io/instance" // the object name; the Pod selector
	labelManagedBy = "app.kubernetes.io/managed-by"
	managedBy      = "aima"
	containerName  = "main"
)

// Objects is what one container.Spec becomes: a Deployment and, when the
// spec publishes ports, a ClusterIP Service of the same name.
type Objects struct {
	Deployment *appsv1.Deployment `json:"deployment"`
	Service    *corev1.Service    `json:"service,omitempty"`
}

var dns1035 = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// ObjectName is the Deployment and Service name of a container name. A
// container name that is already a DNS-1035 label of at most 63 characters
// is used as it is; any other ("aima-x-qwen_2": '_' and '.' are allowed in
// container names, not in Service names) is made one, with a short hash of
// the original so that two names never meet.
func ObjectName(name string) string {
	if len(name) <= 63 && dns1035.MatchString(name) {
		return name
	}
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		s = "c-" + s
	}
	sum := sha256.Sum256([]byte(name))
	suffix := hex.EncodeToString(sum[:])[:8]
	if len(s) > 63-len(suffix)-1 {
		s = strings.TrimRight(s[:63-len(suffix)-1], "-")
	}
	return s + "-" + suffix
}

// Render is what spec becomes in namespace ns, started (one replica) or
// not: exactly what Create, Start and Stop apply.
func Render(spec container.Spec, ns string, started bool) (Objects, error) {
	if spec.Name == "" || spec.Image == "" {
		return Objects{}, fmt.Errorf("container spec needs a name and an image")
	}
	name := ObjectName(spec.Name)
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return Objects{}, err
	}
	labels := objectLabels(spec.Labels, name)
	annotations := map[string]string{AnnotationSpec: string(specJSON)}
	pod, err := podSpec(spec)
	if err != nil {
		return Objects{}, err
	}
	replicas := int32(0)
	if started {
		replicas = 1
	}
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Annotations: annotations},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{labelInstance: name}},
			// One container of a name at a time, as with Docker: a model
			// server's GPUs and port are not shared with its successor.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels)},
				Spec:       pod,
			},
		},
	}
	out := Objects{Deployment: dep}
	if len(spec.Ports) > 0 {
		svc := &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: maps.Clone(labels)},
			Spec: corev1.ServiceSpec{
				Type:     corev1.ServiceTypeClusterIP,
				Selector: map[string]string{labelInstance: name},
			},
		}
		for i, p := range spec.Ports {
			svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
				Name:       portName(i),
				Protocol:   corev1.ProtocolTCP,
				Port:       int32(p.HostPort),
				TargetPort: intstr.FromInt32(int32(p.ContainerPort)),
			})
		}
		out.Service = svc
	}
	return out, nil
}

func portName(i int) string {
	if i == 0 {
		return "http"
	}
	return "http-" + strconv.Itoa(i+1)
}

// objectLabels are the spec's labels that Kubernetes accepts as labels
// (all of aima's own; the whole set is in AnnotationSpec) and the standard
// ones.
func objectLabels(spec map[string]string, name string) map[string]string {
	out := map[string]string{labelInstance: name, labelManagedBy: managedBy}
	for k, v := range spec {
		if len(validation.IsQualifiedName(k)) == 0 && len(validation.IsValidLabelValue(v)) == 0 {
			out[k] = v
		}
	}
	return out
}

func podSpec(spec container.Spec) (corev1.PodSpec, error) {
	c := corev1.Container{
		Name:            containerName,
		Image:           spec.Image,
		Command:         slices.Clone(spec.Entrypoint),
		Args:            slices.Clone(spec.Cmd),
		ImagePullPolicy: corev1.PullIfNotPresent,
	}
	for _, kv := range spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: v})
	}
	for _, p := range spec.Ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: int32(p.ContainerPort), Protocol: corev1.ProtocolTCP})
	}
	res := corev1.ResourceList{}
	if spec.Memory > 0 {
		res[corev1.ResourceMemory] = *resource.NewQuantity(spec.Memory, resource.BinarySI)
	}
	if spec.NanoCPUs > 0 {
		res[corev1.ResourceCPU] = *resource.NewMilliQuantity(spec.NanoCPUs/1e6, resource.DecimalSI)
	}
	if n := gpuCount(spec.GPUs); n > 0 {
		res["nvidia.com/gpu"] = *resource.NewQuantity(int64(n), resource.DecimalSI)
	}
	if slices.Contains(spec.Devices, "/dev/kfd") {
		// ROCm's device plugin hands out /dev/kfd and /dev/dri with the
		// GPUs; HIP_VISIBLE_DEVICES (from the ids) counts them.
		n := 1
		for _, kv := range spec.Env {
			if ids, ok := strings.CutPrefix(kv, "HIP_VISIBLE_DEVICES="); ok && ids != "" {
				n = len(strings.Split(ids, ","))
			}
		}
		res["amd.com/gpu"] = *resource.NewQuantity(int64(n), resource.DecimalSI)
	} else if len(spec.Devices) > 0 {
		return corev1.PodSpec{}, fmt.Errorf("devices %v: a cluster hands out devices through device plugins, not host paths", spec.Devices)
	}
	if len(res) > 0 {
		// Limits only: Kubernetes makes the requests equal, and extended
		// resources (GPUs) must be limits.
		c.Resources.Limits = res
	}
	pod := corev1.PodSpec{
		Containers:                    []corev1.Container{c},
		NodeSelector:                  maps.Clone(spec.NodeSelector),
		HostIPC:                       spec.IPC == "host",
		EnableServiceLinks:            new(false),
		TerminationGracePeriodSeconds: new(int64(10)),
	}
	for i, m := range spec.Mounts {
		vol := corev1.Volume{Name: "vol-" + strconv.Itoa(i)}
		if strings.HasPrefix(m.Source, "/") {
			// A model path: it must be there on the node (a shared or
			// synced directory), as it must on a Docker host.
			vol.HostPath = &corev1.HostPathVolumeSource{Path: m.Source}
		} else {
			// A named volume (an engine's cache) lives as long as the pod.
			vol.EmptyDir = &corev1.EmptyDirVolumeSource{}
		}
		pod.Volumes = append(pod.Volumes, vol)
		pod.Containers[0].VolumeMounts = append(pod.Containers[0].VolumeMounts, corev1.VolumeMount{Name: vol.Name, MountPath: m.Target, ReadOnly: m.ReadOnly})
	}
	if spec.ShmSize > 0 {
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "shm", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: resource.NewQuantity(spec.ShmSize, resource.BinarySI),
		}}})
		pod.Containers[0].VolumeMounts = append(pod.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "shm", MountPath: "/dev/shm"})
	}
	if p := spec.Probe; p != nil && len(spec.Ports) > 0 {
		period := p.Interval
		if period <= 0 {
			period = 10 * time.Second
		}
		handler := corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: p.Path, Port: intstr.FromInt32(int32(spec.Ports[0].ContainerPort))}}
		pod.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: handler, PeriodSeconds: seconds(period), FailureThreshold: 3}
		if p.Timeout > 0 {
			// Startup may take the engine's whole timeout (vLLM loading a
			// model) before the liveness of the pod is in question.
			pod.Containers[0].StartupProbe = &corev1.Probe{ProbeHandler: handler, PeriodSeconds: seconds(period),
				FailureThreshold: max(1, int32(p.Timeout/period))}
		}
	}
	return pod, nil
}

func seconds(d time.Duration) int32 { return max(1, int32(d/time.Second)) }

// gpuCount is how many GPUs a spec's GPUs ask for: ["all"] is one (a pod
// lives on one node, and a cluster has no "all"), ids count.
func gpuCount(ids []string) int {
	if len(ids) == 1 && ids[0] == "all" {
		return 1
	}
	return len(ids)
}

// specOf reads the spec a Deployment was made from.
func specOf(dep *appsv1.Deployment) (container.Spec, bool) {
	var spec container.Spec
	s, ok := dep.Annotations[AnnotationSpec]
	if !ok || json.Unmarshal([]byte(s), &spec) != nil {
		return container.Spec{}, false
	}
	return spec, true
}

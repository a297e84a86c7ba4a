// Package kube is the Kubernetes adapter of container.Runtime: one aima
// container is one Deployment (one replica while started, none while
// stopped) and, when it publishes ports, one ClusterIP Service of the same
// name, in one namespace. Kubernetes does the placement, the restarts and
// the GPU allocation; aima keeps the files, the plan and the status.
//
// Objects are written with server-side apply (field manager "aima"), carry
// the container's aima labels and the whole spec (AnnotationSpec), and are
// listed by aima's labels like containers; the adapter never changes an
// object that is not a Deployment it made (app.kubernetes.io/managed-by:
// aima with an aima spec), and removes only by name and UID what List
// returned.
//
// A container's state is derived from its Deployment and Pod: replicas 0
// is created (never started) or exited (stopped); a Pod waiting to be
// scheduled, pulling or backing off is restarting, with Kubernetes' reason
// in Container.Reason; a running Pod is running, healthy when Ready; a
// terminated container is exited with its exit code.
//
// It must not decide anything (the planner does) and must not depend on
// the agent.
package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aima-dev/aima/agent/container"
)

// FieldManager is the server-side apply field manager of every write.
const FieldManager = "aima"

// ErrUnreachable is container.ErrUnavailable for a cluster: the API server
// does not answer (callers that give hints branch on it).
var ErrUnreachable = fmt.Errorf("the Kubernetes API server: %w", container.ErrUnavailable)

// Options choose the cluster and the namespace.
type Options struct {
	// Kubeconfig is a kubeconfig file; empty means $KUBECONFIG or
	// ~/.kube/config, and in a Pod the cluster it runs in.
	Kubeconfig string
	// Namespace holds every object; empty means the kubeconfig context's
	// namespace (in a Pod: its own), else "default".
	Namespace string
	// Config, when set, is used instead of a kubeconfig (tests).
	Config *rest.Config
}

// Runtime is the Kubernetes container.Runtime.
type Runtime struct {
	api *api
	ns  string
	// host names the cluster in errors ("https://10.0.0.1:6443").
	host string
}

var _ container.Runtime = (*Runtime)(nil)

// New returns a Runtime for the cluster opts name. It does not contact the
// cluster.
func New(opts Options) (*Runtime, error) {
	cfg, ns := opts.Config, opts.Namespace
	if cfg == nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if opts.Kubeconfig != "" {
			rules.ExplicitPath = opts.Kubeconfig
		}
		cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
		var err error
		if cfg, err = cc.ClientConfig(); err != nil {
			return nil, fmt.Errorf("kubernetes: %w", err)
		}
		if ns == "" {
			if ns, _, err = cc.Namespace(); err != nil {
				return nil, fmt.Errorf("kubernetes: %w", err)
			}
		}
	}
	if ns == "" {
		ns = "default"
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "aima"
	// A cluster that does not answer is an error within seconds (the
	// contract's ErrUnavailable), not a hung pass; a follow of logs or a
	// watch are streams and set no timeout.
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{Timeout: 3 * time.Second}).DialContext
	}
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	a, err := newAPI(cfg, ns)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	return &Runtime{api: a, ns: ns, host: cfg.Host}, nil
}

// Namespace is the namespace the runtime works in.
func (r *Runtime) Namespace() string { return r.ns }

// Close releases nothing: client-go holds no resource that outlives a call.
func (r *Runtime) Close() error { return nil }

// wrap gives a client error its kind: an answer of the API server keeps
// its own (not found, conflict), anything else — no connection, a timeout,
// an unavailable server — is container.ErrUnavailable.
func (r *Runtime) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, container.ErrNotFound), errors.Is(err, container.ErrConflict), errors.Is(err, container.ErrUnavailable):
		return fmt.Errorf("kubernetes %s: %w", op, err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("kubernetes %s: %w: %v", op, container.ErrNotFound, err)
	case apierrors.IsAlreadyExists(err), apierrors.IsConflict(err):
		return fmt.Errorf("kubernetes %s: %w: %v", op, container.ErrConflict, err)
	case apierrors.IsServiceUnavailable(err), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err), apierrors.IsTooManyRequests(err):
		return fmt.Errorf("kubernetes %s: %w: %v", op, ErrUnreachable, err)
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("kubernetes %s: %w", op, err)
	}
	var netErr net.Error
	var urlErr *url.Error
	if errors.As(err, &netErr) || errors.As(err, &urlErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, io.EOF) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("kubernetes %s: %w at %s: %v", op, ErrUnreachable, r.host, err)
	}
	return fmt.Errorf("kubernetes %s: %w", op, err)
}

// Ping asks the API server for its version.
func (r *Runtime) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return r.wrap("ping", r.api.version(ctx))
}

// EnsureImage does nothing: the nodes pull images, not aima. An image that
// cannot be pulled shows in the container's state (ErrImagePull,
// ImagePullBackOff, with Kubernetes' message in Container.Reason).
func (r *Runtime) EnsureImage(ctx context.Context, image string, progress func(string)) error {
	return r.Ping(ctx)
}

// Create applies the Deployment (no replica) and Service of spec, and
// returns the Deployment's UID. A Deployment of that name is ErrConflict:
// Create never takes over an object, aima's or anyone's.
func (r *Runtime) Create(ctx context.Context, spec container.Spec) (string, error) {
	objs, err := Render(spec, r.ns, false)
	if err != nil {
		return "", fmt.Errorf("kubernetes create %s: %w", spec.Name, err)
	}
	name := objs.Deployment.Name
	if _, err := r.api.getDeployment(ctx, name); err == nil {
		return "", fmt.Errorf("kubernetes create %s: %w: deployment %s/%s exists", spec.Name, container.ErrConflict, r.ns, name)
	} else if !apierrors.IsNotFound(err) {
		return "", r.wrap("create "+spec.Name, err)
	}
	dep, err := r.applyDeployment(ctx, objs.Deployment)
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("kubernetes create %s: namespace %s does not exist (kubectl create namespace %s): %w", spec.Name, r.ns, r.ns, err)
	}
	if err != nil {
		return "", r.wrap("create "+spec.Name, err)
	}
	if objs.Service != nil {
		if err := r.applyService(ctx, objs.Service); err != nil {
			_ = r.api.delete(context.WithoutCancel(ctx), deploymentsGVR, name, metav1.DeleteOptions{})
			return "", r.wrap("create "+spec.Name, err)
		}
	}
	return string(dep.UID), nil
}

func (r *Runtime) applyDeployment(ctx context.Context, dep *appsv1.Deployment) (*appsv1.Deployment, error) {
	data, err := jsonOf(dep)
	if err != nil {
		return nil, err
	}
	u, err := r.api.apply(ctx, deploymentsGVR, dep.Name, data)
	if err != nil {
		return nil, err
	}
	return typed(u, &appsv1.Deployment{})
}

func (r *Runtime) applyService(ctx context.Context, svc *corev1.Service) error {
	data, err := jsonOf(svc)
	if err != nil {
		return err
	}
	_, err = r.api.apply(ctx, servicesGVR, svc.Name, data)
	return err
}

// Start applies the container's objects with one replica. It does not wait
// for the Pod: scheduling, pulling and starting are Kubernetes' to do, and
// the state shows how far they are.
func (r *Runtime) Start(ctx context.Context, id string) error {
	return r.scale(ctx, "start", id, true)
}

// Stop applies the container's objects with no replica and waits (at most
// timeout, and the Pod's own grace period) until its Pods are gone.
func (r *Runtime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	if err := r.scale(ctx, "stop", id, false); err != nil {
		return err
	}
	dep, err := r.find(ctx, id)
	if err != nil {
		return r.wrap("stop "+id, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout+15*time.Second)
	defer cancel()
	for {
		pods, err := r.pods(ctx, dep.Name)
		if err != nil {
			return r.wrap("stop "+id, err)
		}
		if len(pods) == 0 {
			return nil
		}
		w, err := r.api.watch(ctx, podsGVR, labelInstance+"="+dep.Name, pods[0].ResourceVersion)
		if err != nil {
			return r.wrap("stop "+id, err)
		}
		// Any change of its Pods is a reason to look again.
		select {
		case <-w.ResultChan():
		case <-ctx.Done():
		}
		w.Stop()
		if ctx.Err() != nil {
			return r.wrap("stop "+id, fmt.Errorf("pods of %s still there after %s: %w", dep.Name, timeout, ctx.Err()))
		}
	}
}

func (r *Runtime) scale(ctx context.Context, op, id string, started bool) error {
	dep, err := r.find(ctx, id)
	if err != nil {
		return r.wrap(op+" "+id, err)
	}
	spec, ok := specOf(dep)
	if !ok {
		return fmt.Errorf("kubernetes %s %s: deployment %s has no %s annotation: not aima's", op, id, dep.Name, AnnotationSpec)
	}
	objs, err := Render(spec, r.ns, started)
	if err != nil {
		return fmt.Errorf("kubernetes %s %s: %w", op, id, err)
	}
	if !started {
		stopped := time.Now().UTC().Format(time.RFC3339)
		if s, ok := dep.Annotations[AnnotationStopped]; ok {
			stopped = s
		}
		objs.Deployment.Annotations[AnnotationStopped] = stopped
	}
	// The UID as a precondition: a Deployment removed and made again
	// meanwhile is another container.
	objs.Deployment.UID = dep.UID
	if _, err = r.applyDeployment(ctx, objs.Deployment); err != nil {
		return r.wrap(op+" "+id, err)
	}
	// The Service again: a Create cut short between the two leaves a
	// Deployment without one, and the Deployment is what List sees.
	if started && objs.Service != nil {
		return r.wrap(op+" "+id, r.applyService(ctx, objs.Service))
	}
	return nil
}

// Remove deletes the container's Deployment, its Service and its Pods.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	dep, err := r.find(ctx, id)
	if err != nil {
		return r.wrap("remove "+id, err)
	}
	// Background propagation: the Deployment is gone when Delete returns
	// (the name is free), its ReplicaSets and Pods follow it.
	err = r.api.delete(ctx, deploymentsGVR, dep.Name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &dep.UID},
		PropagationPolicy: new(metav1.DeletePropagationBackground),
	})
	if err != nil {
		return r.wrap("remove "+id, err)
	}
	svc, err := r.api.getService(ctx, dep.Name)
	if err == nil && svc.Labels[labelManagedBy] == managedBy && svc.Labels[container.LabelInstance] == dep.Labels[container.LabelInstance] {
		err = r.api.delete(ctx, servicesGVR, dep.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &svc.UID}})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return r.wrap("remove "+id, err)
	}
	return nil
}

// Inspect returns one container by its id (the Deployment's UID) or its
// container name.
func (r *Runtime) Inspect(ctx context.Context, id string) (container.Container, error) {
	dep, err := r.find(ctx, id)
	if err != nil {
		return container.Container{}, r.wrap("inspect "+id, err)
	}
	pods, err := r.pods(ctx, dep.Name)
	if err != nil {
		return container.Container{}, r.wrap("inspect "+id, err)
	}
	c, _ := observe(dep, pods, false)
	return c, nil
}

// List returns the containers of every aima Deployment of the namespace
// whose spec carries an aima label.
func (r *Runtime) List(ctx context.Context) ([]container.Container, error) {
	deps, _, err := r.api.listDeployments(ctx, labelManagedBy+"="+managedBy)
	if err != nil {
		return nil, r.wrap("list", err)
	}
	pods, _, err := r.api.listPods(ctx, labelManagedBy+"="+managedBy)
	if err != nil {
		return nil, r.wrap("list", err)
	}
	byName := map[string][]corev1.Pod{}
	for _, p := range pods {
		n := p.Labels[labelInstance]
		byName[n] = append(byName[n], p)
	}
	var out []container.Container
	for i := range deps {
		dep := &deps[i]
		c, ok := observe(dep, byName[dep.Name], true)
		if ok && aimaLabelled(c.Labels) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func aimaLabelled(labels map[string]string) bool {
	for k := range labels {
		if strings.HasPrefix(k, "aima.") {
			return true
		}
	}
	return false
}

// find returns the Deployment of a container id (its UID) or name.
func (r *Runtime) find(ctx context.Context, id string) (*appsv1.Deployment, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty container id", container.ErrNotFound)
	}
	dep, err := r.api.getDeployment(ctx, ObjectName(id))
	switch {
	case err == nil:
		if _, ok := specOf(dep); ok && dep.DeletionTimestamp == nil {
			return dep, nil
		}
	case !apierrors.IsNotFound(err):
		return nil, err
	}
	deps, _, err := r.api.listDeployments(ctx, labelManagedBy+"="+managedBy)
	if err != nil {
		return nil, err
	}
	for i := range deps {
		if d := &deps[i]; string(d.UID) == id && d.DeletionTimestamp == nil {
			return d, nil
		}
	}
	return nil, fmt.Errorf("%w: no container %s in namespace %s", container.ErrNotFound, id, r.ns)
}

// pods are the Pods of the Deployment named name, newest first.
func (r *Runtime) pods(ctx context.Context, name string) ([]corev1.Pod, error) {
	pods, _, err := r.api.listPods(ctx, labelInstance+"="+name)
	return pods, err
}

// Logs writes the output of the container's current Pod. A container with
// no Pod (never started, stopped) has no output.
func (r *Runtime) Logs(ctx context.Context, id string, tail int, follow bool, w io.Writer) error {
	dep, err := r.find(ctx, id)
	if err != nil {
		return r.wrap("logs "+id, err)
	}
	pods, err := r.pods(ctx, dep.Name)
	if err != nil {
		return r.wrap("logs "+id, err)
	}
	pod := current(pods)
	if pod == nil || !started(pod) {
		return nil
	}
	rc, err := r.api.logs(ctx, pod.Name, containerName, tail, follow)
	if err != nil {
		// The Pod went (a recreate, a stop) or its container is not
		// there yet: no output, as of a container that never ran.
		if ctx.Err() != nil && follow || apierrors.IsNotFound(err) || apierrors.IsBadRequest(err) {
			return nil
		}
		return r.wrap("logs "+id, err)
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	if ctx.Err() != nil && follow {
		return nil // following ends with ctx, and that is not an error
	}
	return r.wrap("logs "+id, err)
}

// started reports whether the Pod's container has run (it has output).
func started(pod *corev1.Pod) bool {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == containerName {
			return cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil
		}
	}
	return false
}

// current is the Pod that speaks for a Deployment's container: the newest
// one not being deleted, else the newest.
func current(pods []corev1.Pod) *corev1.Pod {
	if len(pods) == 0 {
		return nil
	}
	pods = slices.Clone(pods)
	sort.SliceStable(pods, func(i, j int) bool {
		di, dj := pods[i].DeletionTimestamp != nil, pods[j].DeletionTimestamp != nil
		if di != dj {
			return !di
		}
		return pods[j].CreationTimestamp.Before(&pods[i].CreationTimestamp)
	})
	return &pods[0]
}

// Endpoint is the URL of a container's Service port inside the cluster
// (its DNS name): what the gateway routes to and the status shows when
// aima runs in the cluster.
func (r *Runtime) Endpoint(c container.Container, port int) string {
	return fmt.Sprintf("http://%s.%s.svc:%d", ObjectName(c.Name), r.ns, port)
}

// RenderSpec is what Create and Start apply for spec: its Deployment and
// Service (aima service render shows them).
func (r *Runtime) RenderSpec(spec container.Spec) (any, error) {
	return Render(spec, r.ns, true)
}

package k8senv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// NodeName is the simulated node.
const NodeName = "sim-node"

// GPU resources the simulated node may offer.
const (
	NvidiaGPU corev1.ResourceName = "nvidia.com/gpu"
	AMDGPU    corev1.ResourceName = "amd.com/gpu"
)

// Sim plays the deployment controller, the scheduler and the kubelet of one
// node for the Deployments in the API server, level-triggered: any change
// of a Deployment or Pod makes it look at all of them again.
//
//   - A Deployment with one replica gets one Pod from its template (a
//     changed template replaces it, zero replicas or a deleted Deployment
//     deletes it).
//   - A Pod is scheduled onto the node when the node's GPUs that other
//     Pods do not hold cover its requests; else it stays Pending with the
//     scheduler's words ("0/1 nodes are available: 1 Insufficient
//     nvidia.com/gpu.").
//   - A scheduled Pod's container is running and ready at once, unless its
//     image is one set Unpullable (ErrImagePull).
//   - Kill terminates a running container with exit code 137.
//   - Logs: two lines per started Pod, "starting IMAGE ARGS" and
//     "listening on port PORT", served like a kubelet's.
type Sim struct {
	cs   kubernetes.Interface
	kick chan struct{}

	mu         sync.Mutex
	unpullable map[string]bool
	gpus       map[corev1.ResourceName]int64
}

func startSim(ctx context.Context, cs kubernetes.Interface) (*Sim, error) {
	s := &Sim{cs: cs, kick: make(chan struct{}, 1), unpullable: map[string]bool{}, gpus: map[corev1.ResourceName]int64{}}
	port, err := s.serveLogs(ctx)
	if err != nil {
		return nil, err
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: NodeName, Labels: map[string]string{"kubernetes.io/hostname": NodeName}}}
	if node, err = cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create node: %w", err)
	}
	node.Status = corev1.NodeStatus{
		Capacity:        s.capacity(),
		Allocatable:     s.capacity(),
		Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
		NodeInfo:        corev1.NodeSystemInfo{KubeletVersion: Version, OperatingSystem: "linux", Architecture: "amd64"},
	}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("node status: %w", err)
	}
	go s.watch(ctx, func(ctx context.Context) (watch.Interface, error) {
		return cs.AppsV1().Deployments("").Watch(ctx, metav1.ListOptions{})
	})
	go s.watch(ctx, func(ctx context.Context) (watch.Interface, error) {
		return cs.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{})
	})
	go s.loop(ctx)
	return s, nil
}

func (s *Sim) capacity() corev1.ResourceList {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	for r, n := range s.gpus {
		out[r] = *resource.NewQuantity(n, resource.DecimalSI)
	}
	return out
}

// SetGPUs sets how many GPUs of a kind the node offers.
func (s *Sim) SetGPUs(ctx context.Context, r corev1.ResourceName, n int64) error {
	s.mu.Lock()
	s.gpus[r] = n
	s.mu.Unlock()
	node, err := s.cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	node.Status.Capacity, node.Status.Allocatable = s.capacity(), s.capacity()
	_, err = s.cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	s.poke()
	return err
}

// SetUnpullable makes pulls of image fail.
func (s *Sim) SetUnpullable(image string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unpullable[image] = true
}

func (s *Sim) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// watch pokes the loop on every event of one watch, re-opening it when
// the server ends it.
func (s *Sim) watch(ctx context.Context, open func(context.Context) (watch.Interface, error)) {
	for ctx.Err() == nil {
		w, err := open(ctx)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		s.poke()
		for range w.ResultChan() {
			s.poke()
		}
		w.Stop()
	}
}

func (s *Sim) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		if err := s.reconcile(ctx); err != nil && ctx.Err() == nil {
			// Conflicts with a writer that came between; look again.
			s.poke()
		}
	}
}

const annotationTemplate = "sim.aima.dev/template"

func templateHash(t corev1.PodTemplateSpec) string {
	b, _ := json.Marshal(t)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:10]
}

// reconcile brings every Deployment's Pods and every Pod's status to what
// the rules above say, reading from the API server (never a cache, so a Pod
// it just made is never made twice).
func (s *Sim) reconcile(ctx context.Context) error {
	deps, err := s.cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	pods, err := s.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	owned := map[string][]*corev1.Pod{} // by owner UID
	for i := range pods.Items {
		p := &pods.Items[i]
		for _, o := range p.OwnerReferences {
			owned[string(o.UID)] = append(owned[string(o.UID)], p)
		}
	}
	var firstErr error
	note := func(err error) {
		if err != nil && !apierrors.IsNotFound(err) && firstErr == nil {
			firstErr = err
		}
	}
	live := map[string]bool{}
	for i := range deps.Items {
		d := &deps.Items[i]
		if d.DeletionTimestamp != nil {
			continue
		}
		live[string(d.UID)] = true
		want := 1
		if d.Spec.Replicas != nil {
			want = int(*d.Spec.Replicas)
		}
		hash := templateHash(d.Spec.Template)
		var keep []*corev1.Pod
		for _, p := range owned[string(d.UID)] {
			if p.DeletionTimestamp == nil && p.Annotations[annotationTemplate] == hash && len(keep) < want {
				keep = append(keep, p)
				continue
			}
			note(s.deletePod(ctx, p))
		}
		for len(keep) < want {
			p, err := s.createPod(ctx, d, hash)
			if err != nil {
				note(err)
				break
			}
			keep = append(keep, p)
		}
		note(s.deploymentStatus(ctx, d, keep))
	}
	// Pods whose Deployment is gone: the garbage collector's work.
	for uid, ps := range owned {
		if !live[uid] {
			for _, p := range ps {
				note(s.deletePod(ctx, p))
			}
		}
	}
	// Scheduling, after the deletions: freed GPUs are there to take.
	pods, err = s.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	used := map[corev1.ResourceName]int64{}
	for _, p := range pods.Items {
		if p.Spec.NodeName != "" {
			for r, n := range gpuRequests(&p) {
				used[r] += n
			}
		}
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName != "" || p.DeletionTimestamp != nil {
			continue
		}
		note(s.schedule(ctx, p, used))
	}
	return firstErr
}

func (s *Sim) deletePod(ctx context.Context, p *corev1.Pod) error {
	return s.cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0)), Preconditions: &metav1.Preconditions{UID: &p.UID}})
}

func (s *Sim) createPod(ctx context.Context, d *appsv1.Deployment, hash string) (*corev1.Pod, error) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: d.Name + "-" + hash[:6] + "-",
			Namespace:    d.Namespace,
			Labels:       d.Spec.Template.Labels,
			Annotations:  map[string]string{annotationTemplate: hash},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: new(true),
			}},
		},
		Spec: d.Spec.Template.Spec,
	}
	return s.cs.CoreV1().Pods(d.Namespace).Create(ctx, p, metav1.CreateOptions{})
}

func gpuRequests(p *corev1.Pod) map[corev1.ResourceName]int64 {
	out := map[corev1.ResourceName]int64{}
	for _, c := range p.Spec.Containers {
		for _, r := range []corev1.ResourceName{NvidiaGPU, AMDGPU} {
			if q, ok := c.Resources.Limits[r]; ok {
				out[r] += q.Value()
			}
		}
	}
	return out
}

// schedule binds p to the node when its GPUs fit, and starts it; else it
// marks it unschedulable as the scheduler words it.
func (s *Sim) schedule(ctx context.Context, p *corev1.Pod, used map[corev1.ResourceName]int64) error {
	capacity := s.capacity()
	var short []string
	req := gpuRequests(p)
	for r, n := range req {
		have := capacity[r]
		if used[r]+n > have.Value() {
			short = append(short, "1 Insufficient "+string(r))
		}
	}
	for k, v := range p.Spec.NodeSelector {
		if k != "kubernetes.io/hostname" || v != NodeName {
			short = append(short, "1 node(s) didn't match Pod's node affinity/selector")
			break
		}
	}
	if len(short) > 0 {
		msg := "0/1 nodes are available: " + strings.Join(short, ", ") + ". preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Message == msg {
				return nil
			}
		}
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: msg, LastTransitionTime: metav1.Now(),
		}}}
		_, err := s.cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	}
	err := s.cs.CoreV1().Pods(p.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, UID: p.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: NodeName},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	for r, n := range req {
		used[r] += n
	}
	p, err = s.cs.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	c := p.Spec.Containers[0]
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: "sim://" + c.Image}
	s.mu.Lock()
	bad := s.unpullable[c.Image]
	s.mu.Unlock()
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		st := corev1.ConditionFalse
		if ok {
			st = corev1.ConditionTrue
		}
		return corev1.PodCondition{Type: t, Status: st, LastTransitionTime: now}
	}
	if bad {
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: fmt.Sprintf("failed to pull and unpack image %q: not found", c.Image)}
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, HostIP: "127.0.0.1", PodIP: "10.1.0.1", StartTime: &now,
			Conditions: []corev1.PodCondition{cond(corev1.PodScheduled, true), cond(corev1.PodReady, false)}}
	} else {
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
		cs.Ready, cs.Started = true, new(true)
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, HostIP: "127.0.0.1", PodIP: "10.1.0.1", StartTime: &now,
			Conditions: []corev1.PodCondition{cond(corev1.PodScheduled, true), cond(corev1.PodReady, true), cond(corev1.ContainersReady, true)}}
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
	_, err = s.cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}

// deploymentStatus writes the replica counts kubectl shows.
func (s *Sim) deploymentStatus(ctx context.Context, d *appsv1.Deployment, pods []*corev1.Pod) error {
	var ready int32
	for _, p := range pods {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	n := int32(len(pods))
	st := d.Status
	if st.ObservedGeneration == d.Generation && st.Replicas == n && st.ReadyReplicas == ready && st.AvailableReplicas == ready && st.UpdatedReplicas == n {
		return nil
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: ready, AvailableReplicas: ready, UnavailableReplicas: n - ready}
	_, err := s.cs.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	return err
}

// Kill ends the running container of the Deployment with UID id (a
// container id of agent/kube) with exit code 137, as the OOM killer would.
func (s *Sim) Kill(ctx context.Context, ns, id string) error {
	pods, err := s.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if len(p.OwnerReferences) == 0 || string(p.OwnerReferences[0].UID) != id || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Running == nil {
			continue
		}
		cs := &p.Status.ContainerStatuses[0]
		cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled", StartedAt: cs.State.Running.StartedAt, FinishedAt: metav1.Now()}}
		cs.Ready, cs.Started = false, new(false)
		for j := range p.Status.Conditions {
			if t := p.Status.Conditions[j].Type; t == corev1.PodReady || t == corev1.ContainersReady {
				p.Status.Conditions[j].Status = corev1.ConditionFalse
			}
		}
		_, err := s.cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	}
	return fmt.Errorf("no running pod of deployment %s in %s", id, ns)
}

// serveLogs serves the kubelet's log endpoint over TLS (the API server does
// not verify a kubelet's certificate without --kubelet-certificate-authority)
// and returns its port.
func (s *Sim) serveLogs(ctx context.Context) (int, error) {
	cert, err := selfSigned()
	if err != nil {
		return 0, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		return 0, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", s.logs)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() { <-ctx.Done(); srv.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *Sim) logs(w http.ResponseWriter, r *http.Request) {
	p, err := s.cs.CoreV1().Pods(r.PathValue("ns")).Get(r.Context(), r.PathValue("pod"), metav1.GetOptions{})
	if err != nil || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting != nil {
		http.Error(w, "container not found", http.StatusNotFound)
		return
	}
	c := p.Spec.Containers[0]
	port := 0
	if len(c.Ports) > 0 {
		port = int(c.Ports[0].ContainerPort)
	}
	lines := []string{
		"starting " + strings.Join(append([]string{c.Image}, c.Args...), " "),
		"listening on port " + strconv.Itoa(port),
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("tailLines")); err == nil && n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	w.Header().Set("Content-Type", "text/plain")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	if r.URL.Query().Get("follow") == "true" {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		<-r.Context().Done()
	}
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: NodeName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

package kube

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/aima-dev/aima/agent/container"
)

// Events turns watches of aima's Deployments and Pods into container
// events of the managed ones: start when a Pod's container is running, die
// when it stops running (killed, crashed, its Pod deleted), destroy when
// the Deployment goes. The watches are in place when it returns.
func (r *Runtime) Events(ctx context.Context) (<-chan container.Event, <-chan error) {
	evs := make(chan container.Event, 64)
	errs := make(chan error, 1)
	fail := func(err error) (<-chan container.Event, <-chan error) {
		errs <- r.wrap("events", err)
		return evs, errs
	}
	sel := labelManagedBy + "=" + managedBy
	deps, depsRV, err := r.api.listDeployments(ctx, sel)
	if err != nil {
		return fail(err)
	}
	pods, podsRV, err := r.api.listPods(ctx, sel)
	if err != nil {
		return fail(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	dw, err := r.api.watch(wctx, deploymentsGVR, sel, depsRV)
	if err != nil {
		cancel()
		return fail(err)
	}
	pw, err := r.api.watch(wctx, podsGVR, sel, podsRV)
	if err != nil {
		dw.Stop()
		cancel()
		return fail(err)
	}
	s := &eventState{r: r, known: map[string]known{}, running: map[string]bool{}}
	for i := range deps {
		s.deployment(&deps[i])
	}
	for _, p := range pods {
		s.running[string(p.UID)] = running(&p)
	}
	go func() {
		defer cancel()
		defer dw.Stop()
		defer pw.Stop()
		for {
			var out []container.Event
			select {
			case <-ctx.Done():
				errs <- fmt.Errorf("kubernetes events: %w", ctx.Err())
				return
			case ev, ok := <-dw.ResultChan():
				if !ok || ev.Type == watch.Error {
					errs <- r.wrap("events", fmt.Errorf("%w: the deployment watch ended", ErrUnreachable))
					return
				}
				if dep, ok := deploymentOf(ev.Object); ok {
					out = s.onDeployment(ev.Type, dep)
				}
			case ev, ok := <-pw.ResultChan():
				if !ok || ev.Type == watch.Error {
					errs <- r.wrap("events", fmt.Errorf("%w: the pod watch ended", ErrUnreachable))
					return
				}
				if pod, ok := podOf(ev.Object); ok {
					out = s.onPod(ctx, ev.Type, pod)
				}
			}
			for _, e := range out {
				select {
				case evs <- e:
				case <-ctx.Done():
				}
			}
		}
	}()
	return evs, errs
}

// known is a managed Deployment: its container id and labels.
type known struct {
	id     string
	labels map[string]string
}

type eventState struct {
	r       *Runtime
	known   map[string]known // by Deployment name
	running map[string]bool  // by Pod UID: its container was running
}

func (s *eventState) deployment(dep *appsv1.Deployment) (known, bool) {
	spec, ok := specOf(dep)
	if !ok || spec.Labels[container.LabelManaged] != "true" {
		return known{}, false
	}
	k := known{id: string(dep.UID), labels: spec.Labels}
	s.known[dep.Name] = k
	return k, true
}

func (s *eventState) onDeployment(typ watch.EventType, dep *appsv1.Deployment) []container.Event {
	if typ != watch.Deleted {
		s.deployment(dep)
		return nil
	}
	k, ok := s.known[dep.Name]
	if !ok || k.id != string(dep.UID) {
		return nil
	}
	delete(s.known, dep.Name)
	return []container.Event{{Type: container.EventDestroy, ID: k.id, Labels: k.labels}}
}

func (s *eventState) onPod(ctx context.Context, typ watch.EventType, pod *corev1.Pod) []container.Event {
	name := pod.Labels[labelInstance]
	k, ok := s.known[name]
	if !ok {
		// The Pod's watch ran ahead of its Deployment's.
		dep, err := s.r.api.getDeployment(ctx, name)
		if err != nil {
			return nil
		}
		if k, ok = s.deployment(dep); !ok {
			return nil
		}
	}
	uid := string(pod.UID)
	was := s.running[uid]
	now := typ != watch.Deleted && running(pod)
	if typ == watch.Deleted {
		delete(s.running, uid)
	} else {
		s.running[uid] = now
	}
	switch {
	case now && !was:
		return []container.Event{{Type: container.EventStart, ID: k.id, Labels: k.labels}}
	case was && !now:
		return []container.Event{{Type: container.EventDie, ID: k.id, Labels: k.labels}}
	}
	return nil
}

// running reports whether the Pod's container is running.
func running(pod *corev1.Pod) bool {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == containerName {
			return cs.State.Running != nil
		}
	}
	return false
}

package kube

import (
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/aima-dev/aima/agent/container"
)

// observe derives the container of a Deployment from the Deployment and
// its Pods, and reports false for a Deployment aima did not make. listed
// is List's view: ports only while running, every address as "" (as the
// contract says of Docker's list); Inspect reports the configured ports.
func observe(dep *appsv1.Deployment, pods []corev1.Pod, listed bool) (container.Container, bool) {
	spec, ok := specOf(dep)
	if !ok {
		return container.Container{}, false
	}
	c := container.Container{
		ID:      string(dep.UID),
		Name:    spec.Name,
		Image:   spec.Image,
		Labels:  spec.Labels,
		Created: dep.CreationTimestamp.Time,
		Ports:   spec.Ports,
	}
	c.State, c.ExitCode, c.Reason, c.Health = state(dep, current(pods))
	if listed {
		c.Ports = nil
		if c.State == container.StateRunning {
			for _, p := range spec.Ports {
				switch p.HostIP {
				case "0.0.0.0", "::":
					p.HostIP = ""
				}
				c.Ports = append(c.Ports, p)
			}
		}
	}
	return c, true
}

// state is the lifecycle state of a Deployment's container, from its
// replicas and its current Pod.
func state(dep *appsv1.Deployment, pod *corev1.Pod) (st container.State, exit int, reason, health string) {
	if dep.DeletionTimestamp != nil {
		return container.StateRemoving, 0, "", ""
	}
	if dep.Spec.Replicas != nil && *dep.Spec.Replicas == 0 {
		if _, stopped := dep.Annotations[AnnotationStopped]; stopped {
			return container.StateExited, 0, "", ""
		}
		return container.StateCreated, 0, "", ""
	}
	if pod == nil || pod.DeletionTimestamp != nil {
		// Started: the Deployment's controller has not made its Pod yet
		// (or is replacing it). A failure to make one is its condition.
		for _, cond := range dep.Status.Conditions {
			if cond.Type == appsv1.DeploymentReplicaFailure && cond.Status == corev1.ConditionTrue {
				return container.StateRestarting, 0, cond.Reason + ": " + cond.Message, ""
			}
		}
		return container.StateRestarting, 0, "no pod yet", ""
	}
	if pod.Spec.NodeName == "" {
		for _, cond := range pod.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse {
				return container.StateRestarting, 0, words(cond.Reason, cond.Message), ""
			}
		}
		return container.StateRestarting, 0, "pod " + pod.Name + " not scheduled yet", ""
	}
	var cs *corev1.ContainerStatus
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == containerName {
			cs = &pod.Status.ContainerStatuses[i]
		}
	}
	if cs == nil {
		return container.StateRestarting, 0, "pod " + pod.Name + " scheduled on " + pod.Spec.NodeName + ", not started yet", ""
	}
	switch {
	case cs.State.Running != nil:
		health = container.HealthStarting
		if cs.Ready {
			health = container.HealthHealthy
		}
		return container.StateRunning, 0, "", health
	case cs.State.Terminated != nil:
		t := cs.State.Terminated
		return container.StateExited, exitCode(t), words(t.Reason, t.Message), ""
	case cs.State.Waiting != nil:
		w := cs.State.Waiting
		// A crash loop is an exited container that Kubernetes restarts
		// after a back-off: exited, with the last exit code.
		if t := cs.LastTerminationState.Terminated; t != nil && w.Reason == "CrashLoopBackOff" {
			return container.StateExited, exitCode(t), words(w.Reason, w.Message), ""
		}
		return container.StateRestarting, 0, words(w.Reason, w.Message), ""
	}
	return container.StateRestarting, 0, "pod " + string(pod.Status.Phase), ""
}

func exitCode(t *corev1.ContainerStateTerminated) int {
	return int(t.ExitCode)
}

// words joins a Kubernetes reason and message as kubectl shows them.
func words(reason, message string) string {
	message = strings.TrimSpace(message)
	switch {
	case reason == "":
		return message
	case message == "":
		return reason
	}
	return reason + ": " + message
}

func jsonOf(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

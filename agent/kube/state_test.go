package kube

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aima-dev/aima/agent/container"
)

// TestState pins how a Deployment and its Pod read as a container: the
// states the planner and the status know, with Kubernetes' own words.
func TestState(t *testing.T) {
	dep := func(replicas int32, annotations map[string]string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Annotations: annotations}, Spec: appsv1.DeploymentSpec{Replicas: &replicas}}
	}
	pod := func(node string, cs ...corev1.ContainerStatus) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{ContainerStatuses: cs}}
	}
	unschedulable := pod("")
	unschedulable.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	for _, tc := range []struct {
		name   string
		dep    *appsv1.Deployment
		pod    *corev1.Pod
		state  container.State
		exit   int
		reason string
		health string
	}{
		{"created", dep(0, nil), nil, container.StateCreated, 0, "", ""},
		{"stopped", dep(0, map[string]string{AnnotationStopped: "x"}), nil, container.StateExited, 0, "", ""},
		{"no pod yet", dep(1, nil), nil, container.StateRestarting, 0, "no pod yet", ""},
		{"unschedulable", dep(1, nil), unschedulable, container.StateRestarting, 0, "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.", ""},
		{"pulling", dep(1, nil), pod("n", corev1.ContainerStatus{Name: containerName, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}), container.StateRestarting, 0, "ContainerCreating", ""},
		{"image pull", dep(1, nil), pod("n", corev1.ContainerStatus{Name: containerName, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "x"`}}}), container.StateRestarting, 0, `ImagePullBackOff: Back-off pulling image "x"`, ""},
		{"not ready", dep(1, nil), pod("n", corev1.ContainerStatus{Name: containerName, State: running}), container.StateRunning, 0, "", container.HealthStarting},
		{"ready", dep(1, nil), pod("n", corev1.ContainerStatus{Name: containerName, State: running, Ready: true}), container.StateRunning, 0, "", container.HealthHealthy},
		{"killed", dep(1, nil), pod("n", corev1.ContainerStatus{Name: containerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}}), container.StateExited, 137, "OOMKilled", ""},
		{"crash loop", dep(1, nil), pod("n", corev1.ContainerStatus{Name: containerName,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}}),
			container.StateExited, 1, "CrashLoopBackOff: back-off 40s restarting failed container", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, exit, reason, health := state(tc.dep, tc.pod)
			if st != tc.state || exit != tc.exit || reason != tc.reason || health != tc.health {
				t.Errorf("state = %q %d %q %q, want %q %d %q %q", st, exit, reason, health, tc.state, tc.exit, tc.reason, tc.health)
			}
		})
	}
}

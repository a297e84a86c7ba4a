package kube_test

import (
	"context"
	"os"
	"regexp"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/kube"
	"github.com/aima-dev/aima/internal/k8senv"
)

// TestRole: the Role the README gives is enough for the runtime — create,
// start, list, inspect, logs, stop, remove and events — and the API
// server's RBAC enforces it.
func TestRole(t *testing.T) {
	env := k8senv.Shared(t)
	ns := env.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README: no Role")
	}
	var role rbacv1.Role
	if err := yaml.UnmarshalStrict(m[1], &role); err != nil {
		t.Fatalf("README's Role: %v", err)
	}
	role.Namespace = ns
	if _, err := env.Client.RbacV1().Roles(ns).Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "aima"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: k8senv.User}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
	}
	if _, err := env.Client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rt, err := kube.New(kube.Options{Config: env.UserConfig(), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	// Another namespace is out of bounds.
	other, err := kube.New(kube.Options{Config: env.UserConfig(), Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.List(ctx); err == nil {
		t.Errorf("List in namespace default with the Role of %s: no error", ns)
	}

	evs, errs := rt.Events(ctx)
	spec := container.Spec{
		Name: "aima-rbac-chat", Image: "registry.invalid/aima/server:1",
		Labels: map[string]string{container.LabelManaged: "true", container.LabelInstance: "rbac", container.LabelName: "chat"},
		Ports:  []container.Port{{HostPort: 8000, ContainerPort: 8000}},
	}
	id, err := rt.Create(ctx, spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := rt.Start(ctx, id); err != nil {
		t.Fatalf("Start: %v", err)
	}
	poll(t, "running", func() (bool, string) {
		c, err := rt.Inspect(ctx, id)
		if err != nil {
			t.Fatalf("Inspect: %v", err)
		}
		return c.State == container.StateRunning, string(c.State)
	})
	if _, err := rt.List(ctx); err != nil {
		t.Errorf("List: %v", err)
	}
	var out lockedBuffer
	if err := rt.Logs(ctx, id, 0, false, &out); err != nil || out.String() == "" {
		t.Errorf("Logs: %q %v", out.String(), err)
	}
	if err := rt.Stop(ctx, id, time.Second); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := rt.Remove(ctx, id); err != nil {
		t.Errorf("Remove: %v", err)
	}
	for done := false; !done; {
		select {
		case ev := <-evs:
			done = ev.ID == id && ev.Type == container.EventDestroy
		case err := <-errs:
			t.Fatalf("Events: %v", err)
		case <-ctx.Done():
			t.Fatal("no destroy event")
		}
	}
}

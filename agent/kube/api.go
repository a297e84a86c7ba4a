package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// api reaches the two kinds of objects the runtime writes (Deployments,
// Services) and the Pods it reads through client-go's dynamic client, and
// converts them to the typed structs the rest of the package works with.
// Not the typed clientset: its scheme registers every API group's types
// when the binary starts — milliseconds added to every aima command, most
// of which never talk to a cluster.
type api struct {
	dyn  dynamic.Interface
	http *http.Client // the same credentials, for /version and Pod logs
	base string       // the API server's URL
	ns   string
}

var (
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	servicesGVR    = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	podsGVR        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

func newAPI(cfg *rest.Config, ns string) (*api, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(cfg.Host, "/")
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	return &api{dyn: dyn, http: hc, base: base, ns: ns}, nil
}

func (a *api) res(gvr schema.GroupVersionResource) dynamic.ResourceInterface {
	return a.dyn.Resource(gvr).Namespace(a.ns)
}

// typed converts an object the dynamic client answered into out.
func typed[T any](u *unstructured.Unstructured, out *T) (*T, error) {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), out); err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return out, nil
}

func (a *api) getDeployment(ctx context.Context, name string) (*appsv1.Deployment, error) {
	u, err := a.res(deploymentsGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return typed(u, &appsv1.Deployment{})
}

func (a *api) getService(ctx context.Context, name string) (*corev1.Service, error) {
	u, err := a.res(servicesGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return typed(u, &corev1.Service{})
}

// listDeployments lists the Deployments matching selector, and the list's
// resource version (to watch from).
func (a *api) listDeployments(ctx context.Context, selector string) ([]appsv1.Deployment, string, error) {
	l, err := a.res(deploymentsGVR).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, "", err
	}
	out := make([]appsv1.Deployment, len(l.Items))
	for i := range l.Items {
		if _, err := typed(&l.Items[i], &out[i]); err != nil {
			return nil, "", err
		}
	}
	return out, l.GetResourceVersion(), nil
}

func (a *api) listPods(ctx context.Context, selector string) ([]corev1.Pod, string, error) {
	l, err := a.res(podsGVR).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, "", err
	}
	out := make([]corev1.Pod, len(l.Items))
	for i := range l.Items {
		if _, err := typed(&l.Items[i], &out[i]); err != nil {
			return nil, "", err
		}
	}
	return out, l.GetResourceVersion(), nil
}

// watch watches the objects of gvr matching selector from resourceVersion;
// its events carry *unstructured.Unstructured (see deploymentOf, podOf).
func (a *api) watch(ctx context.Context, gvr schema.GroupVersionResource, selector, resourceVersion string) (watch.Interface, error) {
	return a.res(gvr).Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: resourceVersion})
}

func deploymentOf(obj runtime.Object) (*appsv1.Deployment, bool) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, false
	}
	d, err := typed(u, &appsv1.Deployment{})
	return d, err == nil
}

func podOf(obj runtime.Object) (*corev1.Pod, bool) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, false
	}
	p, err := typed(u, &corev1.Pod{})
	return p, err == nil
}

// apply server-side applies an object given as JSON (field manager aima,
// forcing its fields), and answers the object as it now is.
func (a *api) apply(ctx context.Context, gvr schema.GroupVersionResource, name string, data []byte) (*unstructured.Unstructured, error) {
	return a.res(gvr).Patch(ctx, name, types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: new(true)})
}

func (a *api) delete(ctx context.Context, gvr schema.GroupVersionResource, name string, opts metav1.DeleteOptions) error {
	return a.res(gvr).Delete(ctx, name, opts)
}

// version asks the API server for its version (GET /version).
func (a *api) version(ctx context.Context) error {
	rc, err := a.get(ctx, "/version", nil)
	if err != nil {
		return err
	}
	return rc.Close()
}

// logs streams the output of the container of a Pod.
func (a *api) logs(ctx context.Context, pod, ctr string, tail int, follow bool) (io.ReadCloser, error) {
	q := url.Values{"container": {ctr}}
	if follow {
		q.Set("follow", "true")
	}
	if tail > 0 {
		q.Set("tailLines", strconv.Itoa(tail))
	}
	return a.get(ctx, "/api/v1/namespaces/"+url.PathEscape(a.ns)+"/pods/"+url.PathEscape(pod)+"/log", q)
}

// get is a GET of a path of the API server; an error status is the API's
// own error (apierrors: NotFound, BadRequest, ...).
func (a *api) get(ctx context.Context, path string, q url.Values) (io.ReadCloser, error) {
	u := a.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, apierrors.NewGenericServerResponse(resp.StatusCode, http.MethodGet, schema.GroupResource{}, "", strings.TrimSpace(string(b)), 0, false)
	}
	return resp.Body, nil
}

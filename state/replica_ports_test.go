package state_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// TestReplicaPorts: a service of three replicas gets a host port for each,
// written into its file like port (replica_ports), none claimed twice;
// scaling down drops the ports of the replicas that go, scaling up again
// gives new free ones, and writing the file again without its ports keeps
// them.
func TestReplicaPorts(t *testing.T) {
	st := testenv.NewStore(t)
	mustCreate(t, st, state.KindModel, &state.Model{Name: "m"})
	other := mustCreate(t, st, state.KindService, &state.Service{Name: "other", Model: "m", Engine: "stub"}).Object.(*state.Service)
	svc := mustCreate(t, st, state.KindService, &state.Service{Name: "three", Model: "m", Engine: "stub", Replicas: 3}).Object.(*state.Service)
	ports := svc.Ports()
	if len(svc.ReplicaPorts) != 2 || slices.Contains(ports, 0) || slices.Contains(ports, other.Port) {
		t.Fatalf("ports %v (other service: %d); want three free ones", ports, other.Port)
	}
	if s := slices.Clone(ports); len(slices.Compact(slices.Sorted(slices.Values(s)))) != 3 {
		t.Fatalf("ports %v are not distinct", ports)
	}
	data, _ := os.ReadFile(filepath.Join(st.Dir, "services/three.yaml"))
	if !strings.Contains(string(data), "replica_ports:") {
		t.Errorf("replica ports not written:\n%s", data)
	}

	// Another service cannot take a replica's port.
	_, err := st.Create(state.KindService, &state.Service{Name: "thief", Model: "m", Engine: "stub", Port: ports[2]})
	if err == nil || !strings.Contains(err.Error(), "services/three.yaml") {
		t.Errorf("a service on replica 3's port: %v; want refused naming services/three.yaml", err)
	}

	// Written again without ports (apply -f): the same ports.
	e, err := st.Update(state.KindService, "three", "", func(o state.Object) (state.Object, error) {
		s := o.(*state.Service)
		s.Port, s.ReplicaPorts = 0, nil
		return s, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Object.(*state.Service).Ports(); !slices.Equal(got, ports) {
		t.Errorf("written again without ports: %v, want %v", got, ports)
	}

	// Scaled down: replica 3's port is dropped.
	e, err = st.Update(state.KindService, "three", "", func(o state.Object) (state.Object, error) {
		o.(*state.Service).Replicas = 2
		return o, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Object.(*state.Service).Ports(); !slices.Equal(got, ports[:2]) {
		t.Errorf("scaled to 2: ports %v, want %v", got, ports[:2])
	}

	// A replica port equal to port is refused, naming the field.
	_, err = st.Update(state.KindService, "three", "", func(o state.Object) (state.Object, error) {
		s := o.(*state.Service)
		s.ReplicaPorts = []int{s.Port}
		return s, nil
	})
	if err == nil || !strings.Contains(err.Error(), "replica_ports/0") {
		t.Errorf("replica port = port: %v; want an error naming replica_ports/0", err)
	}

	// Scaled up by hand in an editor: the new replicas' ports are
	// allocated when the edit is recorded, and the commit says so.
	rel := "services/three.yaml"
	data, _ = os.ReadFile(filepath.Join(st.Dir, rel))
	edited := strings.Replace(string(data), "replicas: 2", "replicas: 4", 1)
	if edited == string(data) {
		t.Fatalf("no replicas line in\n%s", data)
	}
	if err := os.WriteFile(filepath.Join(st.Dir, rel), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Record(nil)
	if err != nil || len(rec.Problems) > 0 {
		t.Fatalf("record: %v %v", err, rec.Problems)
	}
	e, _ = st.Get(state.KindService, "three")
	got := e.Object.(*state.Service).Ports()
	if len(got) != 4 || !slices.Equal(got[:2], ports[:2]) || slices.Contains(got, 0) || slices.Contains(got, other.Port) {
		t.Errorf("scaled to 4 by hand: ports %v; want %v and two new free ones", got, ports[:2])
	}
	if msg := git(t, st.Dir, "log", "-1", "--format=%B"); !strings.Contains(msg, "replica_ports") {
		t.Errorf("commit message does not say which ports were given:\n%s", msg)
	}
}

package stub_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aima-dev/aima/agent/stub"
	"github.com/aima-dev/aima/internal/testenv"
)

// TestServeShutdown checks that Serve answers on its address and returns
// nil once its context ends.
func TestServeShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	done := make(chan error, 1)
	go func() { done <- stub.Serve(ctx, stub.Options{Addr: addr, Model: "m1", Log: io.Discard}) }()

	testenv.WaitHTTP(t, "http://"+addr+"/health", 10*time.Second)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}

func TestServeFail(t *testing.T) {
	t.Setenv(stub.EnvFail, "1")
	err := stub.Serve(context.Background(), stub.Options{Addr: "127.0.0.1:0", Log: io.Discard})
	if err == nil {
		t.Fatalf("Serve with %s=1 = nil, want an error", stub.EnvFail)
	}
}

func TestServeBadDelay(t *testing.T) {
	t.Setenv(stub.EnvDelay, "soon")
	err := stub.Serve(context.Background(), stub.Options{Addr: "127.0.0.1:0", Log: io.Discard})
	if err == nil {
		t.Fatalf("Serve with %s=soon = nil, want an error", stub.EnvDelay)
	}
}

func TestServeAddrInUse(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	done := make(chan error, 1)
	go func() { done <- stub.Serve(ctx, stub.Options{Addr: addr, Log: io.Discard}) }()
	testenv.WaitHTTP(t, "http://"+addr+"/health", 10*time.Second)

	if err := stub.Serve(ctx, stub.Options{Addr: addr, Log: io.Discard}); err == nil {
		t.Errorf("second Serve on %s = nil, want an address-in-use error", addr)
	}
	cancel()
	<-done
}

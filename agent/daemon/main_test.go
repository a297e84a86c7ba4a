package daemon_test

import (
	"testing"

	"github.com/aima-dev/aima/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

package proto_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/internal/loadtest/proto"
)

func TestReadStats(t *testing.T) {
	t.Parallel()
	for _, gc := range []bool{false, true} {
		s := proto.ReadStats(3, gc)
		if s.Conns != 3 || s.HeapInuse == 0 || s.StackInuse == 0 || s.Sys < s.HeapInuse || s.Goroutines < 1 || s.RSS == 0 || s.CPUSeconds <= 0 {
			t.Fatalf("ReadStats(3, %v) = %+v", gc, s)
		}
	}
}

func TestStatsHandler(t *testing.T) {
	t.Parallel()
	h := proto.StatsHandler(func() int { return 42 }, os.Getpid())
	for _, target := range []string{"/stats", "/stats?gc=1"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %q", target, rec.Code, rec.Header().Get("Content-Type"))
		}
		var s proto.Stats
		if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if s.Conns != 42 || s.HeapInuse == 0 || s.BrokerCPUSeconds < 0 {
			t.Fatalf("%s: %+v", target, s)
		}
	}
}

func TestProcessCPUSeconds(t *testing.T) {
	t.Parallel()
	// Spin until the clock-tick counter moves (a tick is 10ms), at most 5s.
	deadline := time.Now().Add(5 * time.Second)
	var got float64
	for x := 0; time.Now().Before(deadline); x++ {
		if got = proto.ProcessCPUSeconds(os.Getpid()); got > 0 {
			break
		}
	}
	if got <= 0 {
		t.Fatalf("ProcessCPUSeconds(self) = %v after 5s of spinning", got)
	}
	if self := proto.ReadStats(0, false).CPUSeconds; got > self+0.02 {
		t.Fatalf("ProcessCPUSeconds(self) = %v, over getrusage's %v", got, self)
	}
	if v := proto.ProcessCPUSeconds(1 << 30); v != 0 {
		t.Fatalf("ProcessCPUSeconds(no such process) = %v, want 0", v)
	}
}

package proto_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

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
	h := proto.StatsHandler(func() int { return 42 })
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
		if s.Conns != 42 || s.HeapInuse == 0 {
			t.Fatalf("%s: %+v", target, s)
		}
	}
}

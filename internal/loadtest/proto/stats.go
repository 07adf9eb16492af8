package proto

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
)

// Stats is what a server reports at GET /stats.
type Stats struct {
	HeapAlloc  uint64 `json:"heap_alloc"`  // bytes, runtime.MemStats
	HeapInuse  uint64 `json:"heap_inuse"`  // bytes
	StackInuse uint64 `json:"stack_inuse"` // bytes
	Sys        uint64 `json:"sys"`         // bytes obtained from the OS
	Goroutines int    `json:"goroutines"`
	RSS        uint64 `json:"rss"` // resident bytes, from /proc; 0 where there is none
	// CPUSeconds is the user and system CPU time the process has used.
	CPUSeconds float64 `json:"cpu_seconds"`
	// BrokerCPUSeconds is the CPU time of a broker process the server
	// relies on (a redis-server), 0 when there is none; a client that
	// counts the server's CPU per delivery adds it.
	BrokerCPUSeconds float64 `json:"broker_cpu_seconds,omitempty"`
	// Conns is the server's open WebSocket connections. A member counts
	// once it is in its room, so a client that sees Conns reach the number
	// it opened knows that every member gets what is published next.
	Conns int `json:"conns"`
}

// ReadStats returns the process's figures, with conns as Conns. When gc is
// true it first runs the garbage collector twice and returns freed memory
// to the OS, so that the figures are what is live; that stops the world
// and takes time in proportion to the heap.
func ReadStats(conns int, gc bool) Stats {
	if gc {
		runtime.GC()
		runtime.GC()
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Stats{
		HeapAlloc:  ms.HeapAlloc,
		HeapInuse:  ms.HeapInuse,
		StackInuse: ms.StackInuse,
		Sys:        ms.Sys,
		Goroutines: runtime.NumGoroutine(),
		RSS:        readRSS(),
		CPUSeconds: cpuSeconds(),
		Conns:      conns,
	}
}

// StatsHandler serves GET /stats: ReadStats(conns(), gc) as JSON, gc being
// true when the query has gc=1. BrokerCPUSeconds is the CPU time of the
// brokerPIDs' processes (several for a sharded broker), summed.
func StatsHandler(conns func() int, brokerPIDs ...int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := ReadStats(conns(), r.URL.Query().Get("gc") == "1")
		for _, pid := range brokerPIDs {
			if pid != 0 {
				s.BrokerCPUSeconds += ProcessCPUSeconds(pid)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s) //nolint:errcheck // the client may be gone
	})
}

// readRSS reads the resident set size from /proc/self/statm (its second
// field, in pages).
func readRSS() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// clockTicks is the unit of /proc/PID/stat's times: USER_HZ, 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// ProcessCPUSeconds is the user and system CPU time of process pid, read
// from /proc/PID/stat; 0 when it cannot be read.
func ProcessCPUSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in brackets, may hold spaces: fields are counted
	// after its closing bracket, where utime and stime are the 12th and
	// 13th (fields 14 and 15 of the whole line).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	s, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return float64(u+s) / clockTicks
}

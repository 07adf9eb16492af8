package proto

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Serve is a load-test server's main: it reads the -addr flag (default
// 127.0.0.1:0, a free loopback port) and the server's own flags, builds
// its handler with build, listens, prints addr=HOST:PORT to stdout, serves
// until SIGINT or SIGTERM and exits 0. Log lines go to
// stderr prefixed with name. It exits 1 when it cannot listen or serve.
//
// Connections are not closed one by one on the way out: the process ends,
// and with it every connection, so a stop takes no longer for one server
// than for another. The server's own flags must be defined before Serve
// is called; build runs after they are parsed.
//
// With -pprof, the server also serves net/http/pprof's profiles under
// /debug/pprof/, for finding where a server spends what a run measures:
//
//	go tool pprof http://HOST:PORT/debug/pprof/heap
func Serve(name string, build func() http.Handler) {
	log.SetFlags(0)
	log.SetPrefix(name + ": ")
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	prof := flag.Bool("pprof", false, "serve net/http/pprof's profiles under /debug/pprof/")
	flag.Parse()
	h := build()
	if *prof {
		mux := http.NewServeMux()
		mux.Handle("/", h)
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		h = mux
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("addr=%s\n", ln.Addr())

	// Signals are caught before serving, so one that arrives while the
	// first request is served still ends the process cleanly.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-sig:
		srv.Close() //nolint:errcheck // the process ends next
		os.Exit(0)
	case err := <-errc:
		log.Fatal(err)
	}
}

package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// redisProc is a redis-server the tool started for one run of
// redisServer: on a free 127.0.0.1 port, keeping nothing on disk.
type redisProc struct {
	cmd  *exec.Cmd
	port int
	dir  string
	done chan struct{}
}

func (r *redisProc) url() string { return "redis://127.0.0.1:" + strconv.Itoa(r.port) }

// startRedis starts a redis-server, pinned to the server's core when pin,
// and waits up to 10s for it to answer PING.
func startRedis(ctx context.Context, pin bool) (*redisProc, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "loadtest-redis")
	if err != nil {
		return nil, err
	}
	r := &redisProc{port: port, dir: dir, done: make(chan struct{})}
	r.cmd = command(ctx, pin, "0", "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning")
	if err := r.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	go func() { r.cmd.Wait(); close(r.done) }() //nolint:errcheck // its end is what done tells
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := r.ping(); err == nil {
			return r, nil
		} else if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("redis-server on port %d did not answer within 10s: %w", port, err)
		}
		select {
		case <-r.done:
			r.stop()
			return nil, fmt.Errorf("redis-server on port %d exited at start", port)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (r *redisProc) ping() error {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(r.port), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second)) //nolint:errcheck
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// stop kills the server, waits for it and removes its directory.
func (r *redisProc) stop() {
	r.cmd.Process.Kill() //nolint:errcheck // it may be gone
	<-r.done
	os.RemoveAll(r.dir)
}

package wstest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// StartExample builds the example main package in the current directory,
// starts it on a free 127.0.0.1 port with -addr 127.0.0.1:0 (plus args),
// and returns the address it logged. The process is stopped with SIGINT
// when the test ends.
func StartExample(t testing.TB, args ...string) string {
	t.Helper()
	return StartExampleIn(t, ".", args...)
}

// StartExampleIn is StartExample for the main package in dir.
func StartExampleIn(t testing.TB, dir string, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "example")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		cancel()
	})
	sc := bufio.NewScanner(stderr)
	re := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go func() { // keep draining the log
				for sc.Scan() {
				}
			}()
			return m[1]
		}
	}
	t.Fatal("the example did not log its address")
	return ""
}

// RunPython runs a Python client script with arg, and fails the test
// unless it exits cleanly printing "all good". It needs Debian's
// python3-websockets: without it the test is skipped, or failed when CI is
// set.
func RunPython(t testing.TB, script, arg string) {
	t.Helper()
	python := Python(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c", script, arg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "all good") {
		t.Fatalf("python client: %v\n%s", err, out)
	}
}

// Python returns /usr/bin/python3 when it has the websockets package. Where
// it has not, the test is skipped, or failed when CI is set.
func Python(t testing.TB) string {
	t.Helper()
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import websockets").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-websockets is missing (apt-get install python3-websockets): %v", err)
		}
		t.Skip("python3-websockets not installed; apt-get install python3-websockets")
	}
	return python
}

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles the command once per test run (binDir, which
// TestMain removes), and hands every test that path.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go toolchain on PATH")
	}
	bin, out, err := built(goBin)
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// binDir holds the binary buildBinary makes; TestMain removes it.
var (
	binDir    string
	buildOnce struct {
		sync.Once
		bin string
		out []byte
		err error
	}
)

// built builds the binary the first time it is called and returns it.
func built(goBin string) (string, []byte, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pushgate-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		binDir = dir
		buildOnce.bin = filepath.Join(dir, "pushgate")
		// PUSHGATE_TEST_BINARY_FLAGS adds build flags, e.g. "-race" to run
		// the binary's own code under the race detector in these tests.
		args := append([]string{"build"}, strings.Fields(os.Getenv("PUSHGATE_TEST_BINARY_FLAGS"))...)
		buildOnce.out, buildOnce.err = exec.Command(goBin, append(args, "-o", buildOnce.bin, ".")...).CombinedOutput()
	})
	return buildOnce.bin, buildOnce.out, buildOnce.err
}

// TestSIGTERMFinishesInFlightRequests starts the real binary, begins a
// request, sends SIGTERM, finishes the request and expects its answer and a
// clean exit.
func TestSIGTERMFinishesInFlightRequests(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin, "serve", "--http-addr", "127.0.0.1:0", "--json")
	cmd.Env = append(os.Environ(), "PUSHGATE_DATA_DIR="+t.TempDir(), "PUSHGATE_LOG_FORMAT=json", "PUSHGATE_SHUTDOWN_GRACE=20s")
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var logs strings.Builder
	addr := ""
	sc := bufio.NewScanner(stderr)
	for addr == "" && sc.Scan() {
		logs.WriteString(sc.Text() + "\n")
		addr = listenAddr(sc.Text())
	}
	if addr == "" {
		t.Fatalf("no listening line:\n%s", logs.String())
	}
	go io.Copy(io.Discard, stderr)
	first, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdout)
	creds := parseCredentials(t, first)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"name":"in-flight"}`
	fmt.Fprintf(conn, "POST /v1/app/keys HTTP/1.1\r\nHost: x\r\nx-token: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		creds.APIKey, len(body), body[:8])
	time.Sleep(200 * time.Millisecond) // the handler is now waiting for the rest of the body

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting connections after SIGTERM")
	}
	if _, err := conn.Write([]byte(body[8:])); err != nil {
		t.Fatalf("server dropped the in-flight request: %v", err)
	}
	answer, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(answer), "HTTP/1.1 201") {
		t.Fatalf("in-flight request answered %q", answer)
	}

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("did not exit within the grace period")
	}
}

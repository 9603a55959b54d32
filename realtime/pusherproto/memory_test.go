package pusherproto_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/pushgate/pushgate/internal/conns"
	"github.com/pushgate/pushgate/realtime/pusherproto"
)

// The memory an idle subscribed Pusher connection keeps on the server
// (issue 15's budget: 3 KiB of resident memory, as bench/pusherload
// measures it). The clients run in a child process (this test binary
// again, as TestMemoryClients), so that nothing of theirs is counted.
//
//	go test ./realtime/pusherproto -run TestMemoryPerConnection -v
//	PUSHGATE_MEMORY_N=10000 PUSHGATE_MEMORY_PROFILE=/tmp/heap.pprof go test ... # then
//	go tool pprof -sample_index=inuse_space /tmp/heap.pprof
const (
	clientsURLEnv = "PUSHGATE_MEMORY_CLIENTS_URL"
	clientsNEnv   = "PUSHGATE_MEMORY_CLIENTS_N"
	memoryChannel = "memory-bench"
	// maxLiveBytes bounds the live heap a connection keeps; it was about
	// 1.9 KiB before issue 15's work and is well under 1 KiB after it, so
	// a regression that brings back a map, a timer or a buffer breaks it.
	maxLiveBytes = 1536
)

// TestMemoryPerConnection opens connections (PUSHGATE_MEMORY_N, default
// 2,000) from a child process, subscribes each to one public channel, and
// reports what the server keeps for each: live heap after a collection,
// heap and stacks in use, memory outside the heap (the runtime's poll
// descriptors), and goroutines. PUSHGATE_MEMORY_PROFILE names a file for
// a heap profile of every allocation still live then.
func TestMemoryPerConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections")
	}
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("PUSHGATE_MEMORY_N")); err == nil && v > 0 {
		n = v
	}
	profile := os.Getenv("PUSHGATE_MEMORY_PROFILE")
	if profile != "" {
		old := runtime.MemProfileRate
		runtime.MemProfileRate = 1
		t.Cleanup(func() { runtime.MemProfileRate = old })
	}
	var reg conns.Registry
	nodes := cluster(t, 1, pusherproto.Options{Tracker: tracker{&reg}})
	// One connection first, so that what the first one starts (the
	// poller, the registry's sweep, pools) is in the baseline.
	c := nodes[0].dial(t)
	if f := c.subscribe(memoryChannel, ""); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("subscribe: %+v", f)
	}
	before := settled()
	stdin, done := startClients(t, nodes[0].url, n)
	waitFor(t, func() bool { return nodes[0].hub.Subscribers(app.ID, memoryChannel) == n+1 })
	after := settled()
	if profile != "" {
		writeHeapProfile(t, profile)
	}
	live := perConn(after.HeapAlloc, before.HeapAlloc, n)
	t.Logf("%d idle subscribed connections, a connection: %.0f B live heap, %.0f B heap in use, %.0f B stacks, %.0f B outside the heap, %.2f goroutines",
		n, live, perConn(after.HeapInuse, before.HeapInuse, n), perConn(after.StackInuse, before.StackInuse, n),
		perConn(after.OtherSys+after.MSpanSys+after.BuckHashSys, before.OtherSys+before.MSpanSys+before.BuckHashSys, n),
		float64(after.goroutines-before.goroutines)/float64(n))
	_ = stdin.Close()
	if err := <-done; err != nil {
		t.Fatalf("clients: %v", err)
	}
	if raceEnabled || profile != "" {
		return // the race detector and profiling make every allocation bigger
	}
	if live > maxLiveBytes {
		t.Errorf("a connection keeps %.0f B of live heap; the bound is %d B", live, maxLiveBytes)
	}
}

// memory is the process's memory statistics and goroutines, once settled.
type memory struct {
	runtime.MemStats
	goroutines int
}

// settled collects garbage until nothing more goes, and reads the
// statistics.
func settled() memory {
	var m memory
	for range 3 {
		runtime.GC()
	}
	debug.FreeOSMemory()
	runtime.ReadMemStats(&m.MemStats)
	m.goroutines = runtime.NumGoroutine()
	return m
}

func perConn(after, before uint64, n int) float64 {
	return (float64(after) - float64(before)) / float64(n)
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeHeapProfile(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("heap profile in %s", path)
}

// startClients runs TestMemoryClients in a child process and returns once
// its n connections are subscribed; closing stdin ends them, and done
// reports how the child ended.
func startClients(t *testing.T, url string, n int) (stdin interface{ Close() error }, done <-chan error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryClients$", "-test.v")
	cmd.Env = append(os.Environ(), clientsURLEnv+"="+url, clientsNEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := bufio.NewScanner(out)
	for lines.Scan() && lines.Text() != "subscribed" {
		t.Log("clients: ", lines.Text())
	}
	if lines.Text() != "subscribed" {
		t.Fatalf("clients: %v", cmd.Wait())
	}
	ch := make(chan error, 1)
	go func() {
		for lines.Scan() {
		}
		ch <- cmd.Wait()
	}()
	return in, ch
}

// TestMemoryClients is the child process of TestMemoryPerConnection: it
// opens its connections, subscribes each, prints "subscribed" and keeps
// them open until its stdin closes.
func TestMemoryClients(t *testing.T) {
	url := os.Getenv(clientsURLEnv)
	if url == "" {
		t.Skip("the child process of TestMemoryPerConnection")
	}
	n, _ := strconv.Atoi(os.Getenv(clientsNEnv))
	list := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range list {
			c.Close()
		}
	}()
	for i := range n {
		c, err := subscribedClient(url+"/app/"+app.Key+"?protocol=7&client=memory", memoryChannel)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		list = append(list, c)
	}
	fmt.Println("subscribed")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes it
}

// subscribedClient opens a Pusher connection and subscribes it to a
// public channel.
func subscribedClient(url, channel string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, br, _, err := ws.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	c := net.Conn(nc)
	if br != nil { // the first frame came with the handshake's answer
		c = bufferedConn{nc, br}
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	for _, want := range []string{"pusher:connection_established", "pusher_internal:subscription_succeeded"} {
		if want != "pusher:connection_established" {
			if err := wsutil.WriteClientText(c, []byte(`{"event":"pusher:subscribe","data":{"channel":"`+channel+`"}}`)); err != nil {
				c.Close()
				return nil, err
			}
		}
		data, err := wsutil.ReadServerText(c)
		var f frame
		if err == nil {
			err = json.Unmarshal(data, &f)
		}
		if err == nil && f.Event != want {
			err = fmt.Errorf("want %s, got %s", want, data)
		}
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// bufferedConn reads what a dialer buffered first.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// tracker is the server's registry of connections, as the server wires it.
type tracker struct{ reg *conns.Registry }

func (t tracker) Add(c pusherproto.Closer)  { t.reg.Add(c) }
func (t tracker) Done(c pusherproto.Closer) { t.reg.Done(c) }

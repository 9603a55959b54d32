package chaos

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// freePort returns a loopback port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// pgBin finds a PostgreSQL server binary (initdb, pg_ctl) on PATH or in
// Debian's /usr/lib/postgresql/*/bin, newest version first.
func pgBin(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return filepath.Join(d, name), true
		}
	}
	return "", false
}

func pgVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// pgServer is a throwaway PostgreSQL cluster of the test's own, on a free
// port with trust authentication: the suite stops and restarts it, which
// it must never do to the shared one. The postmaster is the test's child
// (no pg_ctl daemon), with a parent-death signal: a test process killed
// outright takes it along, and its backends exit when it dies.
type pgServer struct {
	t        *testing.T
	dir      string
	port     int
	postgres string
	isReady  string
	cred     *syscall.Credential // run as postgres when the test runs as root
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
}

// template is a cluster made once by initdb; each test copies it.
var template struct {
	once sync.Once
	dir  string
	err  error
}

var templateRoot string

// startPostgres starts a cluster of the test's own and stops it when the
// test ends. It skips the test without the binaries.
func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	initdb, ok1 := pgBin("initdb")
	postgres, ok2 := pgBin("postgres")
	isReady, ok3 := pgBin("pg_isready")
	if !ok1 || !ok2 || !ok3 {
		t.Skip("the chaos suite needs PostgreSQL's initdb, postgres and pg_isready (Debian: apt-get install postgresql); CI has them")
	}
	s := &pgServer{t: t, port: freePort(t), postgres: postgres, isReady: isReady}
	if os.Geteuid() == 0 { // initdb and postgres refuse to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root and no postgres user to run PostgreSQL as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	template.once.Do(func() { template.dir, template.err = s.initTemplate(initdb) })
	if template.err != nil {
		t.Fatalf("initdb: %v", template.err)
	}
	dir, err := os.MkdirTemp("", "pushgate-chaos-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s.dir = filepath.Join(dir, "data")
	if out, err := exec.Command("cp", "-a", template.dir, s.dir).CombinedOutput(); err != nil {
		t.Fatalf("copy the cluster: %v %s", err, out)
	}
	s.chown(dir)
	t.Cleanup(s.kill)
	s.start()
	return s
}

// initTemplate runs initdb into a folder that outlives the test (TestMain
// removes it).
func (s *pgServer) initTemplate(initdb string) (string, error) {
	dir, err := os.MkdirTemp("", "pushgate-chaos-template-")
	if err != nil {
		return "", err
	}
	templateRoot = dir
	s.chown(dir)
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	s.as(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %s", err, out)
	}
	return data, nil
}

func (s *pgServer) chown(dir string) {
	if s.cred == nil {
		return
	}
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error {
		return os.Lchown(p, int(s.cred.Uid), int(s.cred.Gid))
	})
}

func (s *pgServer) as(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL}
	cmd.Dir = "/"
}

// URL is the database URL of the cluster's postgres database.
func (s *pgServer) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// start starts the postmaster and waits until it accepts connections.
func (s *pgServer) start() {
	s.t.Helper()
	cmd := exec.Command(s.postgres, "-D", s.dir, "-p", strconv.Itoa(s.port), "-k", "",
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200")
	s.as(cmd)
	log, err := os.OpenFile(filepath.Join(filepath.Dir(s.dir), "log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	waitFor(s.t, 60*time.Second, func() bool {
		return exec.Command(s.isReady, "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(s.port)).Run() == nil
	}, "PostgreSQL to accept connections")
}

// stop shuts the cluster down in fast mode (SIGINT): open sessions are
// ended (the node sees admin_shutdown, then connection refused).
func (s *pgServer) stop() {
	s.t.Helper()
	if !s.signal(syscall.SIGINT, 60*time.Second) {
		s.t.Fatal("PostgreSQL did not stop within 60 s")
	}
}

// signal sends sig to the postmaster and waits up to d for it to exit.
func (s *pgServer) signal(sig syscall.Signal, d time.Duration) bool {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return true
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
		return true
	case <-time.After(d):
		cmd.Process.Kill()
		<-exited
		return false
	}
}

// kill stops the cluster if it runs (immediate shutdown), for t.Cleanup.
func (s *pgServer) kill() { s.signal(syscall.SIGQUIT, 30*time.Second) }

// redisServer is a throwaway redis-server of the test's own.
type redisServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
	bin  string
}

// startRedis starts a redis-server on a free port, without persistence,
// and stops it when the test ends. It skips the test without the binary.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("the chaos suite needs redis-server (Debian: apt-get install redis-server); CI has it")
	}
	r := &redisServer{t: t, port: freePort(t), bin: bin}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start() {
	r.t.Helper()
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", os.TempDir())
	// A test process killed outright takes its server along.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port)); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server (its data goes with it).
func (r *redisServer) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

// do runs one command through redis-cli's wire format, without a client
// library: enough for FLUSHALL.
func (r *redisServer) do(args ...string) string {
	r.t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), 5*time.Second)
	if err != nil {
		r.t.Fatal(err)
	}
	defer c.Close()
	msg := fmt.Sprintf("*%d\r\n", len(args))
	for _, a := range args {
		msg += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		r.t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, _ := c.Read(buf)
	return string(buf[:n])
}

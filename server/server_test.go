package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/internal/redisconn"
	"github.com/pushgate/pushgate/internal/testenv"
)

func TestEmbeddedMasterKeyIsKeptPrivately(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	k1, err := cfg.keyring()
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(cfg.DataDir, "master.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("master.key: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	k2, err := cfg.keyring()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k2.Open(k1.Seal([]byte("v"), nil), nil); err != nil {
		t.Fatal("second start made a different master key")
	}
	cfg.DatabaseURL = "postgres://localhost/x"
	if _, err := cfg.keyring(); err == nil || !strings.Contains(err.Error(), "master_key") {
		t.Fatalf("PostgreSQL without a master key: %v", err)
	}
}

func TestValidateNamesTheSetting(t *testing.T) {
	for setting, mutate := range map[string]func(*Config){
		"http_addr":                    func(c *Config) { c.HTTPAddr = "8080" },
		"data_dir":                     func(c *Config) { c.DataDir = "" },
		"redis_url":                    func(c *Config) { c.RedisURL = "localhost:6379" },
		"roles":                        func(c *Config) { c.Roles = nil },
		"shutdown_grace":               func(c *Config) { c.ShutdownGrace = 0 },
		"max_body_bytes":               func(c *Config) { c.MaxBodyBytes = 10 },
		"http_body_timeout":            func(c *Config) { c.HTTPBodyTimeout = 0 },
		"http_idle_timeout":            func(c *Config) { c.HTTPIdleTimeout = time.Millisecond },
		"worker_concurrency":           func(c *Config) { c.WorkerConcurrency = 0 },
		"queue_namespace":              func(c *Config) { c.QueueNamespace = "a:b" },
		"bucket_create_rate":           func(c *Config) { c.BucketCreateRate = -1 },
		"credential_check_concurrency": func(c *Config) { c.CredentialCheckConcurrency = -1 },
		"notification_image_wait":      func(c *Config) { c.NotificationImageWait = 0 },
	} {
		c := Defaults()
		mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), setting) {
			t.Errorf("%s: %v", setting, err)
		}
	}
	c := Defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

// The embedded Redis lets keys expire as time passes, which the queue's
// leases rely on.
func TestEmbeddedRedisExpiresKeys(t *testing.T) {
	e, err := startEmbeddedRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.mr.Set("k", "v")
	e.mr.SetTTL("k", 300*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for e.mr.Exists("k") {
		if time.Now().After(deadline) {
			t.Fatal("key never expired")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The embedded Redis listens on a loopback port that every local user can
// reach, so it takes a password only the node knows.
func TestEmbeddedRedisRequiresItsPassword(t *testing.T) {
	e, err := startEmbeddedRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	stranger := redis.NewClient(&redis.Options{Addr: e.mr.Addr()})
	defer stranger.Close()
	if err := stranger.Set(ctx, "k", "v", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("write without the password: %v, want NOAUTH", err)
	}
	if err := stranger.Do(ctx, "AUTH", "guess").Err(); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	opt, err := redis.ParseURL(e.URL())
	if err != nil {
		t.Fatal(err)
	}
	if len(opt.Password) < 32 {
		t.Fatalf("password %q is too short to be unguessable", opt.Password)
	}
	node := redis.NewClient(opt)
	defer node.Close()
	if err := node.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("the node's own client: %v", err)
	}
	other, _ := startEmbeddedRedis()
	defer other.Close()
	if oo, _ := redis.ParseURL(other.URL()); oo.Password == opt.Password {
		t.Fatal("two starts made the same password")
	}
}

// An embedding application runs a node and its worker takes tasks.
func TestEmbeddedNodeWorks(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.QueueNamespace = testenv.Namespace(t)
	cfg.RedisURL = testenv.RedisURL(t)
	ctx := context.Background()
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Stopped twice (an embedder's defer and its signal handler): the
	// second does nothing.
	defer s.Shutdown(ctx)
	defer s.Shutdown(ctx)
	if _, ok := s.FirstApp(); !ok {
		t.Fatal("no first app")
	}
	waitWorkerTakes(t, s, cfg.RedisURL)
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL = %s", s.URL())
	}
}

// waitWorkerTakes enqueues a ping task through the node's queue and waits
// until its worker has handled it.
func waitWorkerTakes(t *testing.T, s *Server, redisURL string) {
	t.Helper()
	ctx := context.Background()
	info, err := s.Queue.Enqueue(ctx, delivery.QueueCritical, asynq.NewTask(delivery.TypePing, nil), asynq.MaxRetry(0), asynq.Retention(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	opt, err := redisconn.Options(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	inspector := asynq.NewInspector(opt)
	defer inspector.Close()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ti, err := inspector.GetTaskInfo(info.Queue, info.ID); err == nil && ti.State == asynq.TaskStateCompleted {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no worker handled the ping task")
		}
	}
}

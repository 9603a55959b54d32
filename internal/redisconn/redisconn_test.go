package redisconn_test

import (
	"context"
	"testing"

	"github.com/pushgate/pushgate/internal/redisconn"
	"github.com/pushgate/pushgate/internal/testenv"
)

func TestClientReachesTheRedisOfTheURL(t *testing.T) {
	opt, err := redisconn.Options(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := redisconn.Client(opt)
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsRefusesOtherSchemes(t *testing.T) {
	if _, err := redisconn.Options("http://127.0.0.1:6379"); err == nil {
		t.Fatal("an http:// URL was taken for Redis")
	}
}

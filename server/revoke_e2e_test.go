package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/testenv"
)

// A key revoked on one node, or through the database as the CLI does, is
// refused by every node within about a second, although nodes remember
// accepted keys far longer.
func TestRevocationReachesEveryNode(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			cfg := Defaults()
			cfg.DataDir = t.TempDir()
			cfg.HTTPAddr = "127.0.0.1:0"
			cfg.DatabaseURL = d.URL
			cfg.MasterKey = pushgate.NewMasterKey()
			cfg.QueueNamespace = testenv.Namespace(t)
			cfg.AuthCacheTTL = time.Hour // only the epoch may end a remembered key
			cfg.Roles = []string{RoleAPI}
			if testenv.RealRedis() {
				cfg.RedisURL = testenv.RedisURL(t) // else each node runs its own
			}
			start := func() *Server {
				s, err := New(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Start(ctx); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Shutdown(ctx) })
				return s
			}
			a, b := start(), start()
			first, ok := a.FirstApp()
			if !ok {
				t.Fatal("no first app")
			}

			call := func(s *Server, method, path, key, body string) (int, map[string]any) {
				t.Helper()
				req, _ := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
				req.Header.Set("x-token", key)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var m map[string]any
				json.NewDecoder(res.Body).Decode(&m)
				return res.StatusCode, m
			}
			newKey := func() (id, key string) {
				code, m := call(a, "POST", "/v1/app/keys", first.APIKey, `{"name":"ci"}`)
				if code != 201 {
					t.Fatalf("create key: %d %v", code, m)
				}
				id, key = m["id"].(string), m["key"].(string)
				for _, s := range []*Server{a, b} { // both nodes remember it
					if code, _ := call(s, "GET", "/v1/app", key, ""); code != 200 {
						t.Fatalf("new key refused: %d", code)
					}
				}
				return id, key
			}
			refusedEverywhere := func(key, how string) {
				t.Helper()
				began := time.Now()
				for _, s := range []*Server{a, b} {
					for {
						code, _ := call(s, "GET", "/v1/app", key, "")
						if code == 401 {
							break
						}
						if time.Since(began) > 5*time.Second {
							t.Fatalf("%s: key still answers %d on %s after %s", how, code, s.Addr(), time.Since(began))
						}
						time.Sleep(20 * time.Millisecond)
					}
				}
				t.Logf("%s: refused on both nodes after %s", how, time.Since(began).Round(time.Millisecond))
			}

			id, key := newKey()
			if code, _ := call(a, "DELETE", "/v1/app/keys/"+id, first.APIKey, ""); code != 204 {
				t.Fatalf("revoke: %d", code)
			}
			refusedEverywhere(key, "revoked on node a")

			id, key = newKey()
			cli, done, err := OpenApps(ctx, cfg) // what `pushgate apps keys revoke` opens
			if err != nil {
				t.Fatal(err)
			}
			defer done()
			if err := cli.RevokeKey(ctx, first.AppID, id); err != nil {
				t.Fatal(err)
			}
			refusedEverywhere(key, "revoked through the CLI")

			_, key = newKey()
			if err := cli.Delete(ctx, first.AppID); err != nil {
				t.Fatal(err)
			}
			refusedEverywhere(key, "app deleted through the CLI")
		})
	}
}

package httpapi_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/recipients"
)

// BenchmarkAuthenticatedRoute measures the middleware chain and API-key
// check (cached after the first request) without the network.
func BenchmarkAuthenticatedRoute(b *testing.B) {
	db := testenv.OpenDB(b, testenv.SQLiteURL(b))
	h, svc := newTestAPIOn(b, db, httpapi.Options{})
	creds, _ := svc.Create(context.Background(), "bench")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "/v1/app", nil)
			req.Header.Set("x-token", creds.APIKey)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}

// stubSender accepts every receiver without storing it, so a benchmark
// measures the HTTP layer (reading, checking and decoding the body,
// encoding the answer) rather than the database.
type stubSender struct{}

func (stubSender) Send(_ context.Context, _ *buckets.Bucket, _ *contexts.Context, rs []recipients.Receiver) ([]messages.SendResult, error) {
	out := make([]messages.SendResult, len(rs))
	for i := range rs {
		out[i] = messages.SendResult{MessageID: "00000000-0000-4000-8000-000000000000", Errors: []string{}}
	}
	return out, nil
}

func (stubSender) Check(_ *buckets.Bucket, rs []recipients.Receiver) []messages.SendResult {
	out := make([]messages.SendResult, len(rs))
	for i := range rs {
		out[i] = messages.SendResult{Errors: []string{}}
	}
	return out
}

// BenchmarkSend1000 sends to a context with 1000 Web Push receivers, the
// largest send CORE allows: the HTTP layer alone (stub sender) and with the
// real sender on SQLite.
func BenchmarkSend1000(b *testing.B) {
	for _, real := range []bool{false, true} {
		name := "http"
		if real {
			name = "sqlite"
		}
		b.Run(name, func(b *testing.B) {
			db := testenv.OpenDB(b, testenv.SQLiteURL(b))
			keys, _ := pushgate.ParseMasterKeys(pushgate.NewMasterKey())
			kr, _ := pushgate.NewKeyring(keys...)
			core := coreOptions(b, db, kr)
			if !real {
				core.Sender = stubSender{}
			}
			h, svc := newTestAPIOn(b, db, httpapi.Options{Core: core})
			creds, _ := svc.Create(context.Background(), "bench")
			do := func(path, body string) []byte {
				req := httptest.NewRequest("POST", path, strings.NewReader(body))
				req.Header.Set("x-token", creds.APIKey)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
				}
				return rec.Body.Bytes()
			}
			var bucket struct {
				BucketID    string `json:"bucketId"`
				Credentials []struct{ ID string }
			}
			json.Unmarshal(do("/v1/bucket", `{"providerCredentials":[{"type":"vapid","payload":`+vapidPayload(b)+`}],"callbackConfig":{"type":"none"}}`), &bucket)
			var ctx struct{ ContextID string }
			json.Unmarshal(do("/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"Sale","body":"50% off"}`), &ctx)
			sub, _ := ecdh.P256().GenerateKey(rand.Reader)
			p256dh := base64.RawURLEncoding.EncodeToString(sub.PublicKey().Bytes())
			auth := base64.RawURLEncoding.EncodeToString(make([]byte, 16))
			var sb strings.Builder
			sb.WriteString(`{"receivers":[`)
			for i := range 1000 {
				if i > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, `{"credentialId":%q,"foreignId":"user-%d","endpoint":"https://fcm.googleapis.com/fcm/send/dev-%d:APA91bH","p256dh":%q,"auth":%q}`,
					bucket.Credentials[0].ID, i, i, p256dh, auth)
			}
			sb.WriteString(`]}`)
			body, path := sb.String(), "/v1/bucket/"+bucket.BucketID+"/context/"+ctx.ContextID+"/send"
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				do(path, body)
			}
		})
	}
}

// BenchmarkCheckNUL is the door's NUL check on the body of a send to 1000
// receivers that holds none (the common case) and on one whose last
// receiver's foreignId holds one (the error path, which names the field).
func BenchmarkCheckNUL(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"receivers":[`)
	for i := range 1000 {
		fmt.Fprintf(&sb, `{"credentialId":"01a23b51-5321-7001-8bd3-10ae1504b518","foreignId":"C:\\u0000-%d","endpoint":"https://fcm.googleapis.com/fcm/send/dev-%d:APA91bH","p256dh":"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4","auth":"BTBZMqHH6r4Tts7J_aSIgg"},`, i, i)
	}
	clean := []byte(sb.String() + `{"credentialId":"x"}]}`)
	dirty := []byte(sb.String() + `{"credentialId":"x","foreignId":"\u0000"}]}`)
	for name, body := range map[string][]byte{"clean": clean, "nul": dirty} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := httpapi.CheckText(body); (err != nil) != (name == "nul") {
					b.Fatal(err)
				}
			}
		})
	}
}

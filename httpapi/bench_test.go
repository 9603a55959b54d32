package httpapi_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/internal/testenv"
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

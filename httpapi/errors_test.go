package httpapi_test

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
)

// pgError stands for the driver's error: it has a SQLSTATE.
type pgError struct{ code string }

func (e pgError) Error() string    { return "server error (SQLSTATE " + e.code + ")" }
func (e pgError) SQLState() string { return e.code }

// TestDependencyDownBecomes503: an internal error caused by a database
// (or Redis) that cannot be reached is answered 503 with Retry-After in
// the one error shape, never 500; other errors keep their status.
func TestDependencyDownBecomes503(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"connection refused, wrapped", fmt.Errorf("failed to connect to `user=postgres`: dial error: %w", refused), 503},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), 503},
		{"bad connection", fmt.Errorf("query: %w", driver.ErrBadConn), 503},
		{"admin shutdown", fmt.Errorf("insert messages: %w", pgError{"57P01"}), 503},
		{"starting up", fmt.Errorf("connect: %w", pgError{"57P03"}), 503},
		{"connection exception", pgError{"08006"}, 503},
		{"too many connections", pgError{"53300"}, 503},
		{"inside an internal *Error", &pushgate.Error{Code: pushgate.EINTERNAL, Err: refused}, 503},
		{"unique violation", pgError{"23505"}, 500},
		{"a plain error", errors.New("boom"), 500},
		{"not found stays", &pushgate.Error{Code: pushgate.ENOTFOUND, Message: "bucket not found", Err: refused}, 404},
	}
	h, _ := newTestAPI(t)
	for i, tc := range cases {
		path := fmt.Sprintf("/fail/%d", i)
		h.HandleForTest("GET", path, func(c *gin.Context) { h.WriteErrorForTest(c, tc.err) })
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		e := decodeError(t, rec)
		if rec.Code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, rec.Code, rec.Body, tc.want)
			continue
		}
		if tc.want == 503 && (e.Code != pushgate.EUNAVAILABLE || rec.Header().Get("Retry-After") != "2") {
			t.Errorf("%s: code %q Retry-After %q, want unavailable and 2", tc.name, e.Code, rec.Header().Get("Retry-After"))
		}
		if tc.want == 500 && (e.Code != pushgate.EINTERNAL || rec.Header().Get("Retry-After") != "") {
			t.Errorf("%s: code %q Retry-After %q, want internal and none", tc.name, e.Code, rec.Header().Get("Retry-After"))
		}
	}
}

package httpapi

import (
	"database/sql/driver"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
)

// codeMethodNotAllowed is the one code only HTTP has.
const codeMethodNotAllowed = "method_not_allowed"

// statusOf is the one map from error codes to HTTP statuses.
var statusOf = map[string]int{
	pushgate.EINVALID:       http.StatusBadRequest,
	pushgate.EUNAUTHORIZED:  http.StatusUnauthorized,
	pushgate.EFORBIDDEN:     http.StatusForbidden,
	pushgate.ENOTFOUND:      http.StatusNotFound,
	pushgate.ECONFLICT:      http.StatusConflict,
	pushgate.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	pushgate.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	pushgate.ERATELIMITED:   http.StatusTooManyRequests,
	pushgate.EUNAVAILABLE:   http.StatusServiceUnavailable,
	pushgate.EINTERNAL:      http.StatusInternalServerError,
	codeMethodNotAllowed:    http.StatusMethodNotAllowed,
	codeBodyTimeout:         http.StatusRequestTimeout,
}

// ErrorBody is the one shape of every error answer.
type ErrorBody struct {
	Message string   `json:"message"`
	Errors  []string `json:"errors"`
	Code    string   `json:"code"`
}

// writeError answers with err in the error shape. Internal errors are logged
// with the request id and shown only as "internal error".
func (h *Handler) writeError(c *gin.Context, err error) {
	err = dependencyDown(err)
	code := pushgate.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	body := ErrorBody{Message: pushgate.ErrorMessage(err), Errors: []string{}, Code: code}
	var e *pushgate.Error
	if errors.As(err, &e) {
		if len(e.Fields) > 0 {
			body.Errors = e.Fields
		}
		if e.RetryAfter > 0 {
			c.Header("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
		}
	}
	if status == http.StatusRequestTimeout {
		// The rest of the body will not come in time either.
		c.Header("Connection", "close")
	}
	if status >= 500 && code != pushgate.EUNAVAILABLE {
		h.log.LogAttrs(c.Request.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(c)), slog.String("route", c.FullPath()), slog.Any("err", err))
	}
	c.AbortWithStatusJSON(status, body)
}

// dependencyRetryAfter is the Retry-After of an answer refused because
// the database (or Redis) cannot be reached.
const dependencyRetryAfter = 2 * time.Second

// dependencyDown turns an internal error whose cause is a database or
// Redis that cannot be reached (connection refused or reset, a broken
// connection, the server shutting down or starting up) into EUNAVAILABLE
// with a Retry-After: the request may succeed once the dependency is back,
// and nothing was accepted. Other errors are returned as they are.
func dependencyDown(err error) error {
	if err == nil || pushgate.ErrorCode(err) != pushgate.EINTERNAL || !unreachable(err) {
		return err
	}
	return &pushgate.Error{Code: pushgate.EUNAVAILABLE, Message: "a dependency is unavailable; try again later",
		RetryAfter: dependencyRetryAfter, Err: err}
}

// unreachable reports whether err says a server the node depends on could
// not be reached or dropped the connection. It needs no driver package:
// PostgreSQL errors are recognised by their SQLSTATE.
func unreachable(err error) bool {
	var state interface{ SQLState() string }
	if errors.As(err, &state) {
		code := state.SQLState()
		// 08: connection exception; 57P01-57P03: admin or crash shutdown,
		// cannot connect now (starting up); 53300: too many connections.
		return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03" || code == "53300"
	}
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF)
}

package httpapi

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

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

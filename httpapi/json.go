package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
)

// decodeJSON reads the request body into v and turns every way it can go
// wrong into a client error: a body over the limit is ETOOLARGE, anything
// that is not one JSON value of the right types is EINVALID naming the field.
// Unknown fields are ignored, as CORE's SDKs may send fields we do not use.
func decodeJSON(c *gin.Context, v any) error {
	return decodeJSONFrom(c.Request.Body, v)
}

// decodeJSONBytes is decodeJSON for a body already read.
func decodeJSONBytes(b []byte, v any) error {
	return decodeJSONFrom(bytes.NewReader(b), v)
}

func decodeJSONFrom(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return pushgate.Invalid("request body must hold one JSON value")
		}
		return nil
	}
	var maxErr *http.MaxBytesError
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return tooLarge(maxErr.Limit)
	case errors.Is(err, io.EOF):
		return pushgate.Invalid("request body is empty; a JSON object is required")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return pushgate.Invalid("request body is not valid JSON", err.Error())
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return pushgate.Invalid("request body has a field of the wrong type",
			fmt.Sprintf("%s: expected %s, got %s", field, typeErr.Type.Kind(), typeErr.Value))
	default:
		return pushgate.Invalid("request body cannot be read", err.Error())
	}
}

func tooLarge(limit int64) error {
	return pushgate.Errorf(pushgate.ETOOLARGE, "request body is larger than the limit of %d bytes", limit)
}

package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"

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
			return pushgate.Invalid("request body must hold one JSON value", "body: must hold one JSON value and nothing after it")
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
		return pushgate.Invalid("request body is empty; a JSON object is required", "body: is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return pushgate.Invalid("request body is not valid JSON", "body: unexpected end of JSON input")
	case errors.As(err, &syntaxErr):
		return pushgate.Invalid("request body is not valid JSON", "body: "+syntaxErr.Error())
	case errors.As(err, &typeErr):
		return pushgate.Invalid("request body has a field of the wrong type", typeProblem(typeErr, "body"))
	default:
		return &pushgate.Error{Code: pushgate.EINVALID, Message: "request body cannot be read", Fields: []string{"body: cannot be read"}, Err: err}
	}
}

// typeProblem says which field has the wrong JSON type, and what it should
// be, in JSON's words ("ttl: expected a whole number, got string"); whole
// names the value itself when the error is not about one of its fields.
func typeProblem(e *json.UnmarshalTypeError, whole string) string {
	field := e.Field
	if field == "" {
		field = whole
	}
	return fmt.Sprintf("%s: expected %s, got %s", field, jsonKind(e.Type), e.Value)
}

// jsonKind names the JSON value that decodes into t.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array"
	case reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "another JSON value"
}

func tooLarge(limit int64) error {
	return pushgate.Errorf(pushgate.ETOOLARGE, "request body is larger than the limit of %d bytes", limit)
}

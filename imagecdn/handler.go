package imagecdn

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"path"
	"strings"

	"github.com/pushgate/pushgate"
)

// Handler serves stored variants at GET and HEAD /cdn/{key}. It takes the
// key from the last path segment, so it can be mounted under any prefix.
//
// A key names its bytes forever, so answers may be cached for a year
// without revalidation, and the key itself is a strong ETag. Range requests
// (of up to four ranges; more are ignored) and conditional requests are
// answered by http.ServeContent, its errors in pushgate's error shape.
// Only variant keys are served; manifests and anything else answer 404.
type Handler struct {
	store Store
	log   *slog.Logger
}

// NewHandler returns a Handler over store. log receives store failures;
// nil discards them.
func NewHandler(store Store, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{store: store, log: log}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
		return
	}
	key := path.Base(r.URL.Path)
	if !isImageKey(key) {
		writeError(w, http.StatusNotFound, pushgate.ENOTFOUND, "image not found")
		return
	}
	obj, err := h.store.Open(r.Context(), key)
	if err != nil {
		if pushgate.ErrorCode(err) == pushgate.ENOTFOUND {
			writeError(w, http.StatusNotFound, pushgate.ENOTFOUND, "image not found")
			return
		}
		h.log.LogAttrs(r.Context(), slog.LevelError, "imagecdn: opening image", slog.String("key", key), slog.Any("err", err))
		writeError(w, http.StatusInternalServerError, pushgate.EINTERNAL, "internal error")
		return
	}
	defer obj.Body.Close()
	hd := w.Header()
	hd.Set("Content-Type", obj.ContentType)
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	hd.Set("ETag", `"`+key+`"`)
	hd.Set("X-Content-Type-Options", "nosniff")
	if tooManyRanges(r.Header.Get("Range")) {
		// Each part of a multipart answer repeats its headers: 2,000
		// one-byte ranges made an answer 31 times the image. Ignoring the
		// header (RFC 9110 allows it) sends the image once.
		r.Header.Del("Range")
	}
	sw := &errorShaper{ResponseWriter: w}
	http.ServeContent(sw, r, key, obj.ModTime, obj.Body)
	sw.finish(h.log, r)
}

// maxRanges is the most ranges a request may ask for; no image viewer
// asks for more than a couple.
const maxRanges = 4

func tooManyRanges(header string) bool {
	return header != "" && strings.Count(header, ",") >= maxRanges
}

// errorShaper passes http.ServeContent's answers through, except its
// errors, which it writes in plain text (416 with the reason, 412 with
// none, 500): those it holds back and finish writes in the error shape.
type errorShaper struct {
	http.ResponseWriter
	status int // the error status held back, if any
	text   []byte
}

func (w *errorShaper) WriteHeader(code int) {
	if code >= 400 {
		w.status = code
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *errorShaper) Write(p []byte) (int, error) {
	if w.status != 0 {
		if len(w.text) < 256 {
			w.text = append(w.text, p[:min(len(p), 256)]...)
		}
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *errorShaper) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *errorShaper) finish(log *slog.Logger, r *http.Request) {
	if w.status == 0 {
		return
	}
	hd := w.ResponseWriter.Header()
	// The image's validators do not describe an error.
	hd.Del("ETag")
	hd.Del("Last-Modified")
	text := strings.TrimSpace(string(w.text))
	switch w.status {
	case http.StatusRequestedRangeNotSatisfiable:
		// Content-Range (bytes */size), set by ServeContent, stays: it
		// tells the client the image's size.
		writeErrorFields(w.ResponseWriter, w.status, "range_not_satisfiable", "no part of the image is in the requested range",
			"Range: "+text)
	case http.StatusPreconditionFailed:
		writeError(w.ResponseWriter, w.status, "precondition_failed", "the image does not match If-Match or If-Unmodified-Since")
	default:
		log.LogAttrs(r.Context(), slog.LevelError, "imagecdn: serving image", slog.Int("status", w.status), slog.String("err", text))
		writeError(w.ResponseWriter, http.StatusInternalServerError, pushgate.EINTERNAL, "internal error")
	}
}

// errorBody is pushgate's one error shape (see httpapi), repeated here
// because this handler is mounted outside the API router.
type errorBody struct {
	Message string   `json:"message"`
	Errors  []string `json:"errors"`
	Code    string   `json:"code"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeErrorFields(w, status, code, message)
}

func writeErrorFields(w http.ResponseWriter, status int, code, message string, fields ...string) {
	if fields == nil {
		fields = []string{}
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	// An error must not be cached like the images it stands in for.
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Message: message, Errors: fields, Code: code})
}

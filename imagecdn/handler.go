package imagecdn

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"path"

	"github.com/pushgate/pushgate"
)

// Handler serves stored variants at GET and HEAD /cdn/{key}. It takes the
// key from the last path segment, so it can be mounted under any prefix.
//
// A key names its bytes forever, so answers may be cached for a year
// without revalidation, and the key itself is a strong ETag. Range requests
// and If-None-Match / If-Modified-Since are answered by http.ServeContent.
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
	http.ServeContent(w, r, key, obj.ModTime, obj.Body)
}

// errorBody is pushgate's one error shape (see httpapi), repeated here
// because this handler is mounted outside the API router.
type errorBody struct {
	Message string   `json:"message"`
	Errors  []string `json:"errors"`
	Code    string   `json:"code"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	// An error must not be cached like the images it stands in for.
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Message: message, Errors: []string{}, Code: code})
}

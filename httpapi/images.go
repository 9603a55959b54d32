package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/imagecdn"
)

// ImageService processes and serves notification images (the server wires
// an imagecdn.Processor and a queue).
type ImageService interface {
	// ProcessContext starts making the variants of the images of c, whose
	// Status is Processing; the context becomes Ready or Failed later.
	ProcessContext(ctx context.Context, c *contexts.Context) error
	// Upload makes the variants of an image sent in a request.
	Upload(ctx context.Context, body io.Reader) (*imagecdn.Result, error)
	// PlaceholderURL is as long as the longest CDN URL of variant.
	PlaceholderURL(variant string) string
	// Handler serves GET and HEAD /cdn/{key}.
	Handler() http.Handler
	// MaxBytes is the largest image accepted.
	MaxBytes() int64
}

func (h *Handler) routeImages(e, v1 *gin.RouterGroup) {
	cdn := gin.WrapH(h.opts.Core.Images.Handler())
	e.GET("/cdn/:key", cdn)
	e.HEAD("/cdn/:key", cdn)
	v1.POST("/images", h.allowLargeBody, h.uploadImage)
	// A multipart body carries its boundaries and headers besides the image.
	h.bodyLimits["/v1/images"] = h.opts.Core.Images.MaxBytes() + 64<<10
}

// prepareImages checks the context's image URLs and its payload sizes as
// they will be once the images are on the CDN, and marks it Processing.
func (h *Handler) prepareImages(b *buckets.Bucket, c *contexts.Context) error {
	srcs := c.ImageSources()
	if h.opts.Core.Images == nil || len(srcs) == 0 {
		return h.checkContext(b, c)
	}
	var problems []string
	for _, s := range srcs {
		if err := imagecdn.ValidateURL(s); err != nil {
			problems = append(problems, fmt.Sprintf("image %q: %s", s, pushgate.ErrorMessage(err)))
		}
	}
	if len(problems) > 0 {
		return pushgate.Invalid("an image URL is invalid", problems...)
	}
	// CDN URLs may be longer than the sources: the platforms' size limits
	// are checked against the longest they can be.
	c.Images = map[string]map[string]string{}
	for _, s := range srcs {
		c.Images[s] = map[string]string{}
		for _, v := range []string{contexts.VariantIcon, contexts.VariantBadge, contexts.VariantLarge, contexts.VariantIOS} {
			c.Images[s][v] = h.opts.Core.Images.PlaceholderURL(v)
		}
	}
	err := h.checkContext(b, c)
	c.Images, c.Status = nil, contexts.Processing
	return err
}

// imageJSON is a variant as the API shows it.
type imageJSON struct {
	Variant     string `json:"variant"`
	URL         string `json:"url"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
}

func (h *Handler) uploadImage(c *gin.Context) {
	body := io.Reader(c.Request.Body)
	if mt, params, err := mime.ParseMediaType(c.GetHeader("Content-Type")); err == nil && strings.HasPrefix(mt, "multipart/") {
		part, err := firstFile(c.Request, params["boundary"])
		if err != nil {
			h.writeError(c, err)
			return
		}
		defer part.Close()
		body = part
	}
	res, err := h.opts.Core.Images.Upload(c.Request.Context(), body)
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		err = pushgate.Errorf(pushgate.ETOOLARGE, "the image is larger than the limit of %d bytes", h.opts.Core.Images.MaxBytes())
	}
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := make([]imageJSON, len(res.Variants))
	for i, v := range res.Variants {
		out[i] = imageJSON{Variant: v.Variant, URL: v.URL, Width: v.Width, Height: v.Height, ContentType: v.ContentType, Size: v.Size}
	}
	c.JSON(http.StatusOK, gin.H{"digest": res.Digest, "variants": out})
}

// firstFile returns the first file of a multipart form: the part named
// "image", or else the first part with a file name.
func firstFile(r *http.Request, boundary string) (io.ReadCloser, error) {
	if boundary == "" {
		return nil, pushgate.Invalid("the multipart body has no boundary")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, pushgate.Invalid("the multipart body cannot be read", err.Error())
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil, pushgate.Invalid("the multipart body has no file", "image: is required")
		}
		if err != nil {
			return nil, bodyReadError(err)
		}
		if p.FormName() == "image" || p.FileName() != "" {
			return p, nil
		}
		p.Close()
	}
}

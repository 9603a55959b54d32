package inbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pushgate/pushgate"
)

// Images puts a notification's image on pushgate's image CDN, as the image
// jobs do for a CORE context's images (imagejobs.Service implements it).
type Images interface {
	// NotificationImage fetches the image at source through the SSRF
	// guard, makes its variants, and returns the URL at which pushgate
	// serves the one a notification shows.
	NotificationImage(ctx context.Context, source string) (string, error)
}

// DefaultImageWait is how long Send waits for a notification's image by
// default (Options.ImageWait).
const DefaultImageWait = 10 * time.Second

// checkImageURL is "" when raw is empty or an http(s) URL the image CDN may
// fetch, or the problem: like a context's image, never from a literal
// internal address (names are judged when fetching).
func checkImageURL(raw string, guard *pushgate.SSRFGuard) string {
	if p := checkURL(raw, webScheme); p != "" || raw == "" {
		return p
	}
	if !pushgate.IsHTTPURL(raw) {
		return "must be an absolute URL"
	}
	if err := guard.CheckURL(raw); err != nil {
		return err.Error()
	}
	return ""
}

// cdnImage returns the URL at which pushgate serves the image at source.
// When the image cannot be put on the CDN within ImageWait (the fetch
// failed or was refused, the bytes are no image, it took too long) it
// returns "" and why: the notification goes without its image rather
// than with a link pushgate does not serve. Without Images, source is
// kept as given. An error is returned only when ctx itself ended.
func (s *Service) cdnImage(ctx context.Context, source string) (cdn, failure string, err error) {
	if source == "" || s.images == nil {
		return source, "", nil
	}
	wait, cancel := context.WithTimeout(ctx, s.imageWait)
	defer cancel()
	cdn, err = s.images.NotificationImage(wait, source)
	if err == nil {
		return cdn, "", nil
	}
	if ctx.Err() != nil {
		return "", "", ctx.Err()
	}
	failure = fmt.Sprintf("image %s: %s", source, pushgate.ErrorMessage(err))
	if errors.Is(err, context.DeadlineExceeded) || wait.Err() != nil {
		failure = fmt.Sprintf("image %s: not on the CDN within %s", source, s.imageWait)
	}
	s.log.Info("notification sent without its image", "reason", failure)
	return "", failure, nil
}

package delivery

import (
	"context"

	"github.com/pushgate/pushgate/contexts"
)

// ImageJobs is what the Deliverer asks when a send task finds its
// context's images still processing (the task then waits a second and
// runs again): to make sure their processing is on its way, so that a
// processing job lost with Redis is enqueued again. imagejobs.Service
// implements it.
type ImageJobs interface {
	// ProcessContext enqueues the processing of c's images, unless it is
	// queued already.
	ProcessContext(ctx context.Context, c *contexts.Context) error
}

// imagesPending asks Options.Images to process c's images; a failure is
// logged, as the task runs again anyway.
func (d *Deliverer) imagesPending(ctx context.Context, c *contexts.Context) {
	if d.opts.Images == nil {
		return
	}
	if err := d.opts.Images.ProcessContext(ctx, c); err != nil {
		d.opts.Logger.Warn("image processing not enqueued", "context", c.ID, "err", err)
	}
}

package imagejobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/imagecdn"
)

// TaskType makes the CDN variants of a context's images.
const TaskType = "pushgate:images"

// retries is how many times a context's images are tried again after a
// failure that may pass (a timeout, a 5xx) before the context fails.
const retries = 4

type task struct {
	AppID     string `json:"a"`
	BucketID  string `json:"b"`
	ContextID string `json:"c"`
}

// Sources is what is remembered of fetched image URLs (the
// imagecdn.FetchCache the processor uses), as far as expiry goes.
type Sources interface {
	// Forget deletes what is remembered of URLs last checked before before.
	Forget(ctx context.Context, before time.Time) (int, error)
}

// Options configure a Service.
type Options struct {
	// Queue carries the tasks. Required.
	Queue *delivery.Queue
	// Contexts reads contexts and records their images. Required.
	Contexts contexts.Store
	// Store keeps the variants and is what Handler serves. Required.
	Store imagecdn.Store
	// Processor configures the processor made on first use; its Store and
	// PublicURL are set from Store and PublicURL, and its fetcher's clock
	// from Now unless it has one.
	Processor imagecdn.Options
	// PublicURL answers how clients reach the node; it is asked on first
	// use, once the node knows the address it listens on. Required.
	PublicURL func() string
	// Sources is the fetch cache that SourceExpiry prunes.
	Sources Sources
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Metrics counts tasks by outcome (nil: nothing is counted).
	Metrics *Metrics
}

// Service puts contexts' images on the CDN: it enqueues and runs their
// tasks, takes uploads and serves /cdn/. It implements delivery.ImageJobs.
type Service struct {
	opts Options
	log  *slog.Logger

	once sync.Once
	p    *imagecdn.Processor
	err  error
}

var _ delivery.ImageJobs = (*Service)(nil)

// New returns a Service. It starts nothing: a worker runs its tasks once
// given it as the handler of TaskType.
func New(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Processor.Fetch.Now == nil {
		opts.Processor.Fetch.Now = opts.Now
	}
	opts.Processor.Store = opts.Store
	return &Service{opts: opts, log: opts.Logger}
}

func (s *Service) processor() (*imagecdn.Processor, error) {
	s.once.Do(func() {
		o := s.opts.Processor
		o.PublicURL = s.opts.PublicURL()
		s.p, s.err = imagecdn.NewProcessor(o)
	})
	return s.p, s.err
}

// ProcessContext enqueues the processing of c's images, unless it is
// queued already.
func (s *Service) ProcessContext(ctx context.Context, c *contexts.Context) error {
	payload, _ := json.Marshal(task{AppID: c.AppID, BucketID: c.BucketID, ContextID: c.ID})
	_, err := s.opts.Queue.Enqueue(ctx, delivery.QueueDefault, asynq.NewTask(TaskType, payload),
		asynq.TaskID("images:"+c.ID), asynq.MaxRetry(retries), asynq.Timeout(2*time.Minute))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil // already on its way
	}
	return err
}

// Upload makes the variants of an image sent in a request.
func (s *Service) Upload(ctx context.Context, body io.Reader) (*imagecdn.Result, error) {
	p, err := s.processor()
	if err != nil {
		return nil, err
	}
	return p.Upload(ctx, body)
}

// PlaceholderURL is as long as the longest CDN URL of variant.
func (s *Service) PlaceholderURL(variant string) string {
	p, err := s.processor()
	if err != nil {
		return s.opts.PublicURL() + "/cdn/" + variant
	}
	return p.PlaceholderURL(variant)
}

// Handler serves GET and HEAD /cdn/{key}.
func (s *Service) Handler() http.Handler { return imagecdn.NewHandler(s.opts.Store, s.log) }

// NotificationImage makes the variants of the image of an inbox
// notification at source, in the call (the notifications API waits for
// it: the notification is stored only once its image is on the CDN, and
// has no queue task to wait in), and returns the URL of the variant a CORE
// context's image gets for websocket receivers (contexts.ForPlatform): the
// large one. It implements inbox.Images.
func (s *Service) NotificationImage(ctx context.Context, source string) (string, error) {
	p, err := s.processor()
	if err != nil {
		return "", err
	}
	res, err := p.Process(ctx, source)
	if err != nil {
		return "", err
	}
	im, ok := res.Image(contexts.VariantLarge)
	if !ok || im.URL == "" {
		return "", fmt.Errorf("image %s: no %s variant was made", source, contexts.VariantLarge)
	}
	return im.URL, nil
}

// MaxBytes is the largest image accepted.
func (s *Service) MaxBytes() int64 { return s.opts.Processor.Limits.MaxBytes }

package server

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

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/imagecdn"
)

// taskImages makes the CDN variants of a context's images.
const taskImages = "pushgate:images"

// imageRetries is how many times a context's images are tried again after
// a failure that may pass (a timeout, a 5xx) before the context fails.
const imageRetries = 4

type imagesTask struct {
	AppID     string `json:"a"`
	BucketID  string `json:"b"`
	ContextID string `json:"c"`
}

// imageService puts contexts' images on the CDN: the API enqueues a task
// per context, workers run it. Its Processor is made on first use, once
// the node knows the URL it is reached at.
type imageService struct {
	s     *Server
	store *imagecdn.DirStore
	opts  imagecdn.Options
	log   *slog.Logger

	once sync.Once
	p    *imagecdn.Processor
	err  error
}

func (is *imageService) processor() (*imagecdn.Processor, error) {
	is.once.Do(func() {
		o := is.opts
		o.PublicURL = is.s.URL()
		is.p, is.err = imagecdn.NewProcessor(o)
	})
	return is.p, is.err
}

func (is *imageService) ProcessContext(ctx context.Context, c *contexts.Context) error {
	payload, _ := json.Marshal(imagesTask{AppID: c.AppID, BucketID: c.BucketID, ContextID: c.ID})
	_, err := is.s.Queue.Enqueue(ctx, delivery.QueueDefault, asynq.NewTask(taskImages, payload),
		asynq.TaskID("images:"+c.ID), asynq.MaxRetry(imageRetries), asynq.Timeout(2*time.Minute))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil // already on its way
	}
	return err
}

func (is *imageService) Upload(ctx context.Context, body io.Reader) (*imagecdn.Result, error) {
	p, err := is.processor()
	if err != nil {
		return nil, err
	}
	return p.Upload(ctx, body)
}

func (is *imageService) PlaceholderURL(variant string) string {
	p, err := is.processor()
	if err != nil {
		return is.s.URL() + "/cdn/" + variant
	}
	return p.PlaceholderURL(variant)
}

func (is *imageService) Handler() http.Handler { return imagecdn.NewHandler(is.store, is.log) }

func (is *imageService) MaxBytes() int64 { return is.opts.Limits.MaxBytes }

// recover enqueues again the processing of contexts still processing
// after staleAfter: Redis lost their job (a maintenance job).
func (is *imageService) recover(staleAfter time.Duration) delivery.Job {
	return delivery.Job{Name: "image recovery", Run: func(ctx context.Context) error {
		stale, err := is.s.DB.Buckets().StaleProcessing(ctx, time.Now().Add(-staleAfter), 500)
		if err != nil {
			return err
		}
		for _, c := range stale {
			if err := is.ProcessContext(ctx, c); err != nil {
				return err
			}
		}
		return nil
	}}
}

// ProcessTask makes the variants of every image of a processing context and
// records their URLs, or why one failed. A failure that may pass is left to
// asynq's retries until the last one.
func (is *imageService) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var task imagesTask
	if err := json.Unmarshal(t.Payload(), &task); err != nil {
		return fmt.Errorf("%w: bad payload: %v", asynq.SkipRetry, err)
	}
	store := is.s.DB.Buckets()
	c, err := store.GetContext(ctx, task.AppID, task.BucketID, task.ContextID)
	if pushgate.ErrorCode(err) == pushgate.ENOTFOUND {
		return nil // its bucket was deleted
	}
	if err != nil {
		return err
	}
	if c.State() != contexts.Processing {
		return nil
	}
	p, err := is.processor()
	if err != nil {
		return err
	}
	images := map[string]map[string]string{}
	for _, src := range c.ImageSources() {
		res, err := p.Process(ctx, src)
		if err != nil {
			retry, _ := asynq.GetRetryCount(ctx)
			if pushgate.ErrorCode(err) == pushgate.EUNAVAILABLE && retry < imageRetries {
				return err
			}
			reason := fmt.Sprintf("image %s: %s", src, pushgate.ErrorMessage(err))
			is.log.Info("context images failed", "context", c.ID, "reason", reason)
			return store.FinishImages(context.WithoutCancel(ctx), c.AppID, c.BucketID, c.ID, contexts.Failed, reason, nil)
		}
		urls := map[string]string{}
		for _, v := range res.Variants {
			urls[v.Variant] = v.URL
		}
		images[src] = urls
	}
	return store.FinishImages(context.WithoutCancel(ctx), c.AppID, c.BucketID, c.ID, contexts.Ready, "", images)
}

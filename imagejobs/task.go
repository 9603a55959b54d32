package imagejobs

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/contexts"
)

// ProcessTask makes the variants of every image of a processing context and
// records their URLs, or why one failed. A failure that may pass is left to
// asynq's retries until the last one.
func (s *Service) ProcessTask(ctx context.Context, t *asynq.Task) error {
	outcome, err := s.process(ctx, t)
	if err != nil && outcome == "" {
		outcome = OutcomeRetried
	}
	s.opts.Metrics.count(outcome)
	return err
}

// process runs a task and says how it ended: an Outcome, or "" when the
// task had nothing to do or failed before its images were tried.
func (s *Service) process(ctx context.Context, t *asynq.Task) (string, error) {
	var tk task
	if err := json.Unmarshal(t.Payload(), &tk); err != nil {
		return OutcomeDropped, fmt.Errorf("%w: bad payload: %v", asynq.SkipRetry, err)
	}
	store := s.opts.Contexts
	c, err := store.GetContext(ctx, tk.AppID, tk.BucketID, tk.ContextID)
	if pushgate.ErrorCode(err) == pushgate.ENOTFOUND {
		return OutcomeDropped, nil // its bucket was deleted
	}
	if err != nil {
		return "", err
	}
	if c.State() != contexts.Processing {
		return OutcomeDropped, nil
	}
	p, err := s.processor()
	if err != nil {
		return "", err
	}
	images := map[string]map[string]string{}
	for _, src := range c.ImageSources() {
		res, err := p.Process(ctx, src)
		if err != nil {
			retry, _ := asynq.GetRetryCount(ctx)
			if pushgate.ErrorCode(err) == pushgate.EUNAVAILABLE && retry < retries {
				return OutcomeRetried, err
			}
			reason := fmt.Sprintf("image %s: %s", src, pushgate.ErrorMessage(err))
			s.log.Info("context images failed", "context", c.ID, "reason", reason)
			return finished(OutcomeFailed, store.FinishImages(context.WithoutCancel(ctx), c.AppID, c.BucketID, c.ID, contexts.Failed, reason, nil))
		}
		urls := map[string]string{}
		for _, v := range res.Variants {
			urls[v.Variant] = v.URL
		}
		images[src] = urls
	}
	return finished(OutcomeReady, store.FinishImages(context.WithoutCancel(ctx), c.AppID, c.BucketID, c.ID, contexts.Ready, "", images))
}

// finished is the outcome of a task whose result was to be stored: it
// is outcome once stored, else a retry.
func finished(outcome string, err error) (string, error) {
	if err != nil {
		return OutcomeRetried, err
	}
	return outcome, nil
}

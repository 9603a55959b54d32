package imagejobs

import (
	"context"
	"time"

	"github.com/pushgate/pushgate/delivery"
)

// sourceRetention is how long what a URL returned is kept: it is a hint
// for revalidation; after a month the URL is simply fetched again.
const sourceRetention = 30 * 24 * time.Hour

// Recovery is a maintenance job that enqueues again the processing of
// contexts still processing after staleAfter: Redis lost their task.
func (s *Service) Recovery(staleAfter time.Duration) delivery.Job {
	return delivery.Job{Name: "image recovery", Run: func(ctx context.Context) error {
		stale, err := s.opts.Contexts.StaleProcessing(ctx, s.opts.Now().Add(-staleAfter), 500)
		if err != nil {
			return err
		}
		for _, c := range stale {
			if err := s.ProcessContext(ctx, c); err != nil {
				return err
			}
		}
		return nil
	}}
}

// SourceExpiry is a maintenance job that forgets what image URLs returned
// when they were last checked over a month ago.
func (s *Service) SourceExpiry() delivery.Job {
	return delivery.Job{Name: "image source expiry", Run: func(ctx context.Context) error {
		_, err := s.opts.Sources.Forget(ctx, s.opts.Now().Add(-sourceRetention))
		return err
	}}
}

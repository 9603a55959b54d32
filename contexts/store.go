package contexts

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Store persists contexts. A context's payload never changes once created;
// only its image status does, once, from Processing to Ready or Failed.
type Store interface {
	CreateContext(ctx context.Context, c *Context) error
	// GetContext returns a context of an app's bucket, or ENOTFOUND.
	GetContext(ctx context.Context, appID, bucketID, id string) (*Context, error)
	// FinishImages moves a Processing context to Ready with its images'
	// CDN URLs, or to Failed with the reason; a context no longer
	// Processing is left as it is.
	FinishImages(ctx context.Context, appID, bucketID, id string, status Status, failure string, images map[string]map[string]string) error
	// StaleProcessing returns up to limit contexts (ID, AppID and BucketID
	// only) still Processing that were created before createdBefore.
	StaleProcessing(ctx context.Context, createdBefore time.Time, limit int) ([]*Context, error)
}

// Decode rebuilds a context's payload from its stored JSON (written by
// Body), without validating it again.
func (c *Context) Decode(body []byte) error {
	var err error
	switch c.Kind {
	case KindData:
		c.Data = &Data{}
		err = json.Unmarshal(body, c.Data)
	case KindRaw:
		c.Raw = &Raw{}
		err = json.Unmarshal(body, c.Raw)
	case KindSilent:
		c.Silent = &Silent{}
		err = json.Unmarshal(body, c.Silent)
	default:
		err = fmt.Errorf("unknown context kind %q", c.Kind)
	}
	if err != nil {
		return fmt.Errorf("decode context %s: %w", c.ID, err)
	}
	return nil
}

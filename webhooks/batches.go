package webhooks

import (
	"context"

	"github.com/pushgate/pushgate"
)

// Batches lists a bucket's batches, newest first, for the API. Batches
// older than Retain are gone.
func (d *Dispatcher) Batches(ctx context.Context, appID, bucketID string, opts ListOptions) ([]*Batch, error) {
	opts.defaults()
	switch opts.Status {
	case "", StatusPending, StatusDelivered, StatusDead:
	default:
		return nil, pushgate.Invalid("bad batch filter", "status: must be pending, delivered or dead")
	}
	if opts.Before != "" && !pushgate.ValidID(opts.Before) {
		return nil, pushgate.Invalid("bad batch filter", "before: must be a batch id")
	}
	return d.store.ListBatches(ctx, appID, bucketID, opts)
}

// Batch returns one batch of a bucket.
func (d *Dispatcher) Batch(ctx context.Context, appID, bucketID, id string) (*Batch, error) {
	if !pushgate.ValidID(id) {
		return nil, pushgate.NotFound("webhook batch")
	}
	return d.store.GetBatch(ctx, appID, bucketID, id)
}

// Redeliver makes a delivered or dead batch due now, with its webhook-id
// unchanged and a new retry period, and returns it as it now stands. A
// pending batch is refused (ECONFLICT): it is already on its way.
func (d *Dispatcher) Redeliver(ctx context.Context, appID, bucketID, id string) (*Batch, error) {
	if !pushgate.ValidID(id) {
		return nil, pushgate.NotFound("webhook batch")
	}
	if err := d.store.Redeliver(ctx, appID, bucketID, id, d.opts.Now().UTC()); err != nil {
		return nil, err
	}
	d.Notify()
	return d.store.GetBatch(ctx, appID, bucketID, id)
}

// Prune deletes delivered and dead batches older than Retain, with their
// events, and reports how many batches it deleted.
func (d *Dispatcher) Prune(ctx context.Context) (int, error) {
	before := d.opts.Now().Add(-d.opts.Retain).UTC()
	total := 0
	for {
		n, err := d.store.PruneBatches(ctx, before, 500)
		total += n
		if err != nil || n < 500 {
			return total, err
		}
	}
}

package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/webhooks"
)

// WebhookBatches lists and redelivers a bucket's webhook batches
// (webhooks.Dispatcher).
type WebhookBatches interface {
	Batches(ctx context.Context, appID, bucketID string, opts webhooks.ListOptions) ([]*webhooks.Batch, error)
	Redeliver(ctx context.Context, appID, bucketID, id string) (*webhooks.Batch, error)
}

func (h *Handler) routeBatches(v1 *gin.RouterGroup) {
	v1.GET("/bucket/:bucketId/webhooks", h.withBucket(h.listBatches))
	v1.POST("/bucket/:bucketId/webhooks/:batchId/redeliver", h.withBucket(h.redeliverBatch))
}

// batchJSON is a batch as the API shows it.
type batchJSON struct {
	BatchID        string     `json:"batchId"`
	Status         string     `json:"status"`
	Events         int        `json:"events"`
	Attempts       int        `json:"attempts"`
	LastStatusCode int        `json:"lastStatusCode,omitempty"`
	LastError      string     `json:"lastError,omitempty"`
	CreatedAt      time.Time  `json:"createdAt"`
	NextAttemptAt  *time.Time `json:"nextAttemptAt,omitempty"`
	LastAttemptAt  *time.Time `json:"lastAttemptAt,omitempty"`
	DeliveredAt    *time.Time `json:"deliveredAt,omitempty"`
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toBatchJSON(b *webhooks.Batch) batchJSON {
	out := batchJSON{BatchID: b.ID, Status: string(b.Status), Events: b.Events, Attempts: b.Attempts,
		LastStatusCode: b.LastStatusCode, LastError: b.LastError, CreatedAt: b.CreatedAt,
		LastAttemptAt: optionalTime(b.LastAttemptAt), DeliveredAt: optionalTime(b.DeliveredAt)}
	if b.Status == webhooks.StatusPending {
		out.NextAttemptAt = optionalTime(b.NextAttemptAt)
	}
	return out
}

func (h *Handler) listBatches(c *gin.Context) {
	opts, err := batchQuery(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	b := currentBucket(c)
	list, err := h.opts.Core.Webhooks.Batches(c.Request.Context(), b.AppID, b.ID, opts)
	h.writeBatches(c, list, err)
}

// batchQuery reads a batch listing's status, limit and before.
func batchQuery(c *gin.Context) (webhooks.ListOptions, error) {
	var opts webhooks.ListOptions
	var problems []string
	switch s := webhooks.Status(c.Query("status")); s {
	case "", webhooks.StatusPending, webhooks.StatusDelivered, webhooks.StatusDead:
		opts.Status = s
	default:
		problems = append(problems, "status: must be pending, delivered or dead")
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			problems = append(problems, "limit: must be a whole number from 1 to 500")
		}
		opts.Limit = n
	}
	if v := c.Query("before"); v != "" {
		if !pushgate.ValidID(v) {
			problems = append(problems, "before: must be a batchId")
		}
		opts.Before = v
	}
	if len(problems) > 0 {
		return opts, pushgate.Invalid("the query is invalid", problems...)
	}
	return opts, nil
}

// writeBatches answers a listing.
func (h *Handler) writeBatches(c *gin.Context, list []*webhooks.Batch, err error) {
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := make([]batchJSON, len(list))
	for i, x := range list {
		out[i] = toBatchJSON(x)
	}
	c.JSON(http.StatusOK, gin.H{"batches": out})
}

func (h *Handler) redeliverBatch(c *gin.Context) {
	id := c.Param("batchId")
	if !pushgate.ValidID(id) {
		h.writeError(c, pushgate.NotFound("webhook batch"))
		return
	}
	b := currentBucket(c)
	batch, err := h.opts.Core.Webhooks.Redeliver(c.Request.Context(), b.AppID, b.ID, id)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toBatchJSON(batch))
}

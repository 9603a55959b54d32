package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
)

// The app's Pusher channel webhook batches, listed and redelivered as a
// bucket's are (batches.go): the channel webhook's store keeps them with
// the app's id in place of a bucket's.

func (h *Handler) routeChannelBatches(v1 *gin.RouterGroup) {
	v1.GET("/app/webhooks", h.listChannelBatches)
	v1.POST("/app/webhooks/:batchId/redeliver", h.redeliverChannelBatch)
}

func (h *Handler) listChannelBatches(c *gin.Context) {
	opts, err := batchQuery(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	app := currentApp(c)
	list, err := h.opts.ChannelWebhooks.Batches(c.Request.Context(), app.ID, app.ID, opts)
	h.writeBatches(c, list, err)
}

func (h *Handler) redeliverChannelBatch(c *gin.Context) {
	id := c.Param("batchId")
	if !pushgate.ValidID(id) {
		h.writeError(c, pushgate.NotFound("webhook batch"))
		return
	}
	app := currentApp(c)
	batch, err := h.opts.ChannelWebhooks.Redeliver(c.Request.Context(), app.ID, app.ID, id)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toBatchJSON(batch))
}

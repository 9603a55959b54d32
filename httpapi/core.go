package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/recipients"
)

// BucketService is what the CORE API needs of buckets.
type BucketService interface {
	Create(ctx context.Context, appID string, body []byte) (*buckets.Bucket, error)
	Get(ctx context.Context, appID, id string) (*buckets.Bucket, error)
	Delete(ctx context.Context, appID, id string) error
}

// Sender accepts sends into the outbox.
type Sender interface {
	Send(ctx context.Context, b *buckets.Bucket, c *contexts.Context, receivers []recipients.Receiver) ([]messages.SendResult, error)
	// Check answers as Send would for the receivers, storing nothing.
	Check(b *buckets.Bucket, receivers []recipients.Receiver) []messages.SendResult
}

// ContextChecker checks that a context renders within the limits of a
// credential type (providers.Registry).
type ContextChecker interface {
	Check(t buckets.CredentialType, c *contexts.Context) error
}

// MessageReader looks up a message's status.
type MessageReader interface {
	Get(ctx context.Context, appID, bucketID, id string) (*messages.Message, error)
}

// CoreOptions are the services behind the CORE API; all are required for
// the /v1/bucket routes to exist.
type CoreOptions struct {
	Buckets  BucketService
	Contexts contexts.Store
	Checker  ContextChecker
	Sender   Sender
	Messages MessageReader
	// Images, when set, puts the images of contexts on pushgate's CDN and
	// serves POST /v1/images and /cdn/{key}.
	Images ImageService
	// Webhooks serves a bucket's webhook batches when set.
	Webhooks WebhookBatches
	// Parse checks new contexts (its guard refuses images on literal
	// internal addresses).
	Parse contexts.Options
	// BucketCreateRate is how many buckets one app may create a second on
	// this node (0: no limit), in bursts of up to five seconds' worth.
	// Checking a bucket's credentials is the costliest thing a request can
	// ask for.
	BucketCreateRate float64
	Now              func() time.Time
}

func (h *Handler) routeCore(v1 *gin.RouterGroup) {
	v1.POST("/bucket", h.limitBucketCreates(), h.createBucket)
	v1.GET("/bucket/:bucketId", h.withBucket(h.getBucket))
	v1.DELETE("/bucket/:bucketId", h.deleteBucket)
	for _, kind := range []contexts.Kind{contexts.KindData, contexts.KindRaw, contexts.KindSilent} {
		v1.POST("/bucket/:bucketId/context/"+string(kind), h.withBucket(h.createContext(kind)))
	}
	v1.GET("/bucket/:bucketId/context/:contextId", h.withBucket(h.getContext))
	v1.POST("/bucket/:bucketId/context/:contextId/send", h.withBucket(h.sendToContext))
	v1.POST("/bucket/:bucketId/send", h.withBucket(h.sendOne(contexts.KindData)))
	v1.POST("/bucket/:bucketId/send/silent", h.withBucket(h.sendOne(contexts.KindSilent)))
	v1.POST("/bucket/:bucketId/send/raw", h.withBucket(h.sendOne(contexts.KindRaw)))
	v1.GET("/bucket/:bucketId/message/:messageId", h.withBucket(h.getMessage))
	if h.opts.Core.Webhooks != nil {
		h.routeBatches(v1)
	}
}

func (h *Handler) now() time.Time {
	if h.opts.Core.Now != nil {
		return h.opts.Core.Now()
	}
	return time.Now()
}

func (h *Handler) createBucket(c *gin.Context) {
	body, err := readBody(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	b, err := h.opts.Core.Buckets.Create(c.Request.Context(), currentApp(c).ID, body)
	if err != nil {
		h.writeError(c, err)
		return
	}
	creds := make([]gin.H, len(b.Credentials))
	for i, cr := range b.Credentials {
		creds[i] = gin.H{"id": cr.ID, "type": cr.Type}
	}
	c.JSON(http.StatusOK, gin.H{"bucketId": b.ID, "credentials": creds, "webhookSecret": b.WebhookSecret})
}

// limitBucketCreates bounds the buckets each app creates, before the body
// is read. The limit is the app's, not its key's: an admin key can mint
// any number of keys, and keys that each had a limit of their own would
// let one app take every credential-check slot of the node.
func (h *Handler) limitBucketCreates() gin.HandlerFunc {
	rate := h.opts.Core.BucketCreateRate
	if rate <= 0 {
		return func(c *gin.Context) { c.Next() }
	}
	l := newIPLimiter(rate, int(math.Ceil(rate*5)))
	return func(c *gin.Context) {
		if ok, wait := l.allow(currentApp(c).ID, time.Now()); !ok {
			h.writeError(c, &pushgate.Error{Code: pushgate.ERATELIMITED, RetryAfter: wait,
				Message: fmt.Sprintf("this app creates buckets too fast; at most %s a second", strconv.FormatFloat(rate, 'f', -1, 64))})
			return
		}
		c.Next()
	}
}

const ctxBucket = "pushgate.bucket"

// withBucket loads the app's bucket named in the path (404 if it is not
// the app's, or expired) before the handler runs.
func (h *Handler) withBucket(next gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		b, err := h.opts.Core.Buckets.Get(c.Request.Context(), currentApp(c).ID, c.Param("bucketId"))
		if err != nil {
			h.writeError(c, err)
			return
		}
		c.Set(ctxBucket, b)
		next(c)
	}
}

func currentBucket(c *gin.Context) *buckets.Bucket { return c.MustGet(ctxBucket).(*buckets.Bucket) }

func (h *Handler) getBucket(c *gin.Context) {
	b := currentBucket(c)
	cb := gin.H{"type": b.Callback.Type}
	if b.Callback.URL != "" {
		// Where callbacks go, without the tokens its user-info or query
		// may carry (they are write-only, like the headers).
		cb["url"] = pushgate.RedactURL(b.Callback.URL)
	}
	c.JSON(http.StatusOK, gin.H{
		"bucketId": b.ID, "createdAt": b.CreatedAt, "lastUsedAt": b.LastUsedAt, "expiresAt": b.ExpiresAt(),
		"callbackConfig": cb, "credentials": b.PublicCredentials,
	})
}

func (h *Handler) deleteBucket(c *gin.Context) {
	if err := h.opts.Core.Buckets.Delete(c.Request.Context(), currentApp(c).ID, c.Param("bucketId")); err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// checkContext checks mc against every credential type of the bucket, so
// a context that cannot be delivered somewhere is refused now, not at send.
func (h *Handler) checkContext(b *buckets.Bucket, mc *contexts.Context) error {
	seen := map[buckets.CredentialType]bool{}
	for _, cr := range b.Credentials {
		if seen[cr.Type] {
			continue
		}
		seen[cr.Type] = true
		if err := h.opts.Core.Checker.Check(cr.Type, mc); err != nil {
			return err
		}
	}
	return nil
}

func (h *Handler) newContext(c *gin.Context, kind contexts.Kind, parse func(now time.Time) (*contexts.Context, error)) (*contexts.Context, error) {
	mc, err := h.parseContext(c, kind, parse)
	if err != nil {
		return nil, err
	}
	return mc, h.storeContext(c, mc)
}

// parseContext makes a context of the current bucket from the request and
// checks it against the bucket's credentials, storing nothing.
func (h *Handler) parseContext(c *gin.Context, kind contexts.Kind, parse func(now time.Time) (*contexts.Context, error)) (*contexts.Context, error) {
	b := currentBucket(c)
	now := h.now().UTC()
	mc, err := parse(now)
	if err != nil {
		return nil, err
	}
	mc.ID, mc.AppID, mc.BucketID, mc.Kind, mc.CreatedAt = pushgate.NewID(), b.AppID, b.ID, kind, now
	if err := h.prepareImages(b, mc); err != nil {
		return nil, err
	}
	return mc, nil
}

// storeContext stores a parsed context and asks for its images.
func (h *Handler) storeContext(c *gin.Context, mc *contexts.Context) error {
	if err := h.opts.Core.Contexts.CreateContext(c.Request.Context(), mc); err != nil {
		return err
	}
	if mc.State() == contexts.Processing {
		// Should this fail (Redis down), the context's first send task
		// asks for its images again.
		if err := h.opts.Core.Images.ProcessContext(c.Request.Context(), mc); err != nil {
			h.log.Warn("image processing not enqueued; the context's first send will ask again", "context", mc.ID, "err", err)
		}
	}
	return nil
}

func (h *Handler) createContext(kind contexts.Kind) gin.HandlerFunc {
	return func(c *gin.Context) {
		body, err := readBody(c)
		if err != nil {
			h.writeError(c, err)
			return
		}
		mc, err := h.newContext(c, kind, func(now time.Time) (*contexts.Context, error) { return h.opts.Core.Parse.Parse(kind, body, now) })
		if err != nil {
			h.writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"contextId": mc.ID})
	}
}

func (h *Handler) loadContext(c *gin.Context) (*contexts.Context, error) {
	id := c.Param("contextId")
	if !pushgate.ValidID(id) {
		return nil, pushgate.NotFound("context")
	}
	b := currentBucket(c)
	return h.opts.Core.Contexts.GetContext(c.Request.Context(), b.AppID, b.ID, id)
}

func (h *Handler) getContext(c *gin.Context) {
	mc, err := h.loadContext(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := gin.H{"contextId": mc.ID, "bucketId": mc.BucketID, "kind": mc.Kind, "createdAt": mc.CreatedAt, "status": mc.State()}
	if mc.Failure != "" {
		out["reason"] = mc.Failure
	}
	if len(mc.Images) > 0 {
		out["images"] = mc.Images
	}
	if exp := mc.ExpiresAt(); !exp.IsZero() {
		out["expiresAt"] = exp
	}
	c.JSON(http.StatusOK, out)
}

// decodeReceivers decodes the receivers of a send. The fast path decodes
// them all in one pass; only a body with a receiver of the wrong shape is
// decoded again, receiver by receiver, so each gets its own errors (nil for
// the ones that decoded).
func decodeReceivers(body []byte) ([]recipients.Receiver, [][]string, error) {
	var fast struct {
		Receivers []recipients.Receiver `json:"receivers"`
	}
	// Room for as many receivers as the body has objects, up to the most a
	// send takes (one past it, so that CheckCount can refuse): decoding
	// then appends into one allocation instead of growing the slice ten
	// times.
	fast.Receivers = make([]recipients.Receiver, 0, min(bytes.Count(body, []byte{'{'}), recipients.MaxPerSend+1))
	if json.Unmarshal(body, &fast) == nil {
		return fast.Receivers, make([][]string, len(fast.Receivers)), nil
	}
	var slow struct {
		Receivers []json.RawMessage `json:"receivers"`
	}
	if err := decodeJSONBytes(body, &slow); err != nil {
		return nil, nil, err
	}
	out := make([]recipients.Receiver, len(slow.Receivers))
	errs := make([][]string, len(slow.Receivers))
	for i, r := range slow.Receivers {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			// Each result stands for its receiver, so fields are named
			// within it ("foreignId: ..."), as recipients.Validate does.
			problem := "receiver: expected object"
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				problem = typeProblem("receiver", te)
			}
			errs[i] = []string{problem}
		}
	}
	return out, errs, nil
}

// send passes the receivers that decoded to the sender and merges its
// answers with the decoding errors, in receiver order.
func (h *Handler) send(c *gin.Context, mc *contexts.Context, receivers []recipients.Receiver, decodeErrs [][]string) ([]messages.SendResult, error) {
	if mc.State() == contexts.Failed {
		return nil, pushgate.Errorf(pushgate.EUNPROCESSABLE, "the context cannot be sent: %s", mc.Failure)
	}
	if !slices.ContainsFunc(decodeErrs, func(e []string) bool { return e != nil }) {
		return h.opts.Core.Sender.Send(c.Request.Context(), currentBucket(c), mc, receivers)
	}
	results := make([]messages.SendResult, len(receivers))
	good := make([]recipients.Receiver, 0, len(receivers))
	index := make([]int, 0, len(receivers))
	for i := range receivers {
		if decodeErrs[i] != nil {
			results[i] = messages.SendResult{Errors: decodeErrs[i]}
			continue
		}
		good = append(good, receivers[i])
		index = append(index, i)
	}
	if len(good) == 0 {
		return results, nil
	}
	sent, err := h.opts.Core.Sender.Send(c.Request.Context(), currentBucket(c), mc, good)
	if err != nil {
		return nil, err
	}
	for j, r := range sent {
		results[index[j]] = r
	}
	return results, nil
}

func (h *Handler) sendToContext(c *gin.Context) {
	body, err := readBody(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	receivers, decodeErrs, err := decodeReceivers(body)
	if err != nil {
		h.writeError(c, err)
		return
	}
	if len(receivers) == 0 {
		h.writeError(c, pushgate.Invalid("nothing to send", "receivers: at least one receiver is required"))
		return
	}
	if err := recipients.CheckCount(len(receivers)); err != nil {
		h.writeError(c, err)
		return
	}
	mc, err := h.loadContext(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	results, err := h.send(c, mc, receivers, decodeErrs)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"results": results})
}

// sendOne is CORE's transactional send: a receiver and the context inline.
// The context is checked first (a bad one is the request's error, 400),
// then the receiver; the context is stored only once its receiver is
// accepted, so a refused receiver answers its errors and leaves nothing
// behind (no context, no message, no image work). A send has one
// receiver, so it stores both or neither, except when storing the message
// fails after the context (an internal error): that context stays, unused,
// until its bucket goes.
func (h *Handler) sendOne(kind contexts.Kind) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req struct {
			Receiver json.RawMessage `json:"receiver"`
			Metadata json.RawMessage `json:"metadata"`
		}
		if err := decodeJSON(c, &req); err != nil {
			h.writeError(c, err)
			return
		}
		if len(req.Receiver) == 0 || string(req.Receiver) == "null" {
			h.writeError(c, pushgate.Invalid("nothing to send", "receiver: is required"))
			return
		}
		mc, err := h.parseContext(c, kind, func(now time.Time) (*contexts.Context, error) {
			return h.opts.Core.Parse.ParseMetadata(kind, req.Metadata, now)
		})
		if err != nil {
			h.writeError(c, err)
			return
		}
		receivers, decodeErrs, err := decodeReceivers([]byte(`{"receivers":[` + string(req.Receiver) + `]}`))
		if err != nil {
			h.writeError(c, err)
			return
		}
		if decodeErrs[0] != nil {
			c.JSON(http.StatusOK, messages.SendResult{Errors: decodeErrs[0]})
			return
		}
		if checked := h.opts.Core.Sender.Check(currentBucket(c), receivers); len(checked[0].Errors) > 0 {
			c.JSON(http.StatusOK, checked[0])
			return
		}
		if err := h.storeContext(c, mc); err != nil {
			h.writeError(c, err)
			return
		}
		results, err := h.send(c, mc, receivers, decodeErrs)
		if err != nil {
			h.writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, results[0])
	}
}

func (h *Handler) getMessage(c *gin.Context) {
	id := c.Param("messageId")
	if !pushgate.ValidID(id) {
		h.writeError(c, pushgate.NotFound("message"))
		return
	}
	b := currentBucket(c)
	m, err := h.opts.Core.Messages.Get(c.Request.Context(), b.AppID, b.ID, id)
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := gin.H{
		"messageId": m.ID, "contextId": m.ContextID, "credentialId": m.CredentialID, "foreignId": m.ForeignID,
		"provider": m.Provider, "status": m.Status.Public(), "attempts": m.Attempts,
		"createdAt": m.CreatedAt, "updatedAt": m.UpdatedAt,
	}
	if m.Reason != "" {
		out["reason"] = m.Reason
	}
	if m.LastError != "" {
		out["lastError"] = m.LastError
	}
	for k, t := range map[string]time.Time{"expiresAt": m.ExpiresAt, "sentAt": m.SentAt, "deliveredAt": m.DeliveredAt, "clickedAt": m.ClickedAt, "closedAt": m.ClosedAt} {
		if !t.IsZero() {
			out[k] = t
		}
	}
	c.JSON(http.StatusOK, out)
}

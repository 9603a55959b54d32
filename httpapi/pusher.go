package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/realtime/pusherproto"
)

// PusherService runs Pusher connections and the Pusher HTTP API's calls
// (pusherproto.Handler, behind the server's adapter).
type PusherService interface {
	// ServeWS upgrades r and runs its session; app is nil when the key in
	// the path names no app (the session is then closed with 4001).
	ServeWS(w http.ResponseWriter, r *http.Request, app *apps.App)
	Check(e *pusherproto.Event) error
	Trigger(ctx context.Context, appID string, events []pusherproto.Event) error
	Info(ctx context.Context, appID, name string, subs, users bool) (pusherproto.ChannelInfo, error)
	Channels(ctx context.Context, appID, prefix string, subs, users bool) (map[string]pusherproto.ChannelInfo, error)
	Users(ctx context.Context, appID, name string) ([]string, error)
	TerminateUser(ctx context.Context, appID, userID string) error
}

// routePusher adds the Pusher protocol's /app/{key} on the streams group
// and the Pusher HTTP API on its own group behind Pusher's signing.
func (h *Handler) routePusher(streams, pusher *gin.RouterGroup) {
	streams.GET("/app/:key", h.connectLimit(), h.servePusher)
	api := pusher.Group("/apps/:appId")
	api.POST("/events", h.pusherEvents)
	api.POST("/batch_events", h.pusherBatch)
	api.GET("/channels", h.pusherChannels)
	api.GET("/channels/:channel", h.pusherChannel)
	api.GET("/channels/:channel/users", h.pusherUsers)
	api.POST("/users/:userId/terminate_connections", h.pusherTerminate)
}

// servePusher checks the handshake (answering in the error shape what is
// no WebSocket), finds the app by its key and hands the connection over;
// an unknown key is closed with 4001 after the upgrade, as Pusher does.
func (h *Handler) servePusher(c *gin.Context) {
	if err := checkUpgrade(c.Request); err != nil {
		h.writeError(c, err)
		return
	}
	app, err := h.opts.Apps.GetByKey(c.Request.Context(), c.Param("key"))
	switch {
	case pushgate.ErrorCode(err) == pushgate.ENOTFOUND:
		app = nil
	case err != nil:
		h.writeError(c, err)
		return
	}
	h.opts.Pusher.ServeWS(c.Writer, c.Request, app)
	c.Abort()
}

// pusherEventBody is one event as the HTTP API takes it.
type pusherEventBody struct {
	Name     string          `json:"name"`
	Data     json.RawMessage `json:"data"`
	Channels []string        `json:"channels"`
	Channel  string          `json:"channel"`
	SocketID string          `json:"socket_id"`
	Info     string          `json:"info"`
}

// event checks b and makes it a pusherproto.Event.
func (h *Handler) pusherEvent(b *pusherEventBody) (pusherproto.Event, error) {
	e := pusherproto.Event{Name: b.Name, Channels: b.Channels, SocketID: b.SocketID}
	if b.Channel != "" {
		if len(b.Channels) > 0 {
			return e, pushgate.Invalid("the event is invalid", "channel: set channel or channels, not both")
		}
		e.Channels = []string{b.Channel}
	}
	if err := json.Unmarshal(b.Data, &e.Data); err != nil {
		return e, pushgate.Invalid("the event is invalid", "data: must be a string (the event's data, often JSON, encoded as a string)")
	}
	return e, h.opts.Pusher.Check(&e)
}

func (h *Handler) pusherEvents(c *gin.Context) {
	var b pusherEventBody
	if err := decodeJSONBytes(c.MustGet(ctxPusherBody).([]byte), &b); err != nil {
		h.writeError(c, err)
		return
	}
	e, err := h.pusherEvent(&b)
	if err == nil {
		err = h.opts.Pusher.Trigger(c.Request.Context(), currentApp(c).ID, []pusherproto.Event{e})
	}
	if err != nil {
		h.writeError(c, err)
		return
	}
	if b.Info == "" {
		c.JSON(http.StatusOK, gin.H{})
		return
	}
	infos, err := h.pusherInfos(c, e.Channels, b.Info)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"channels": infos})
}

// pusherCounts is a channel in a list (a trigger's answer, GET
// /channels): only the counts info= asked for.
type pusherCounts struct {
	SubscriptionCount *int `json:"subscription_count,omitempty"`
	UserCount         *int `json:"user_count,omitempty"`
}

func countsOf(i pusherproto.ChannelInfo) pusherCounts {
	return pusherCounts{SubscriptionCount: i.SubscriptionCount, UserCount: i.UserCount}
}

// pusherInfos is what info= asks of each channel (user_count only of
// presence channels).
func (h *Handler) pusherInfos(c *gin.Context, channels []string, info string) (map[string]pusherCounts, error) {
	subs, users := pusherInfoFields(info)
	out := map[string]pusherCounts{}
	for _, ch := range channels {
		i, err := h.opts.Pusher.Info(c.Request.Context(), currentApp(c).ID, ch, subs, users && strings.HasPrefix(ch, "presence-"))
		if err != nil {
			return nil, err
		}
		out[ch] = countsOf(i)
	}
	return out, nil
}

func pusherInfoFields(info string) (subs, users bool) {
	for _, f := range strings.Split(info, ",") {
		switch strings.TrimSpace(f) {
		case "subscription_count":
			subs = true
		case "user_count":
			users = true
		}
	}
	return subs, users
}

func (h *Handler) pusherBatch(c *gin.Context) {
	var b struct {
		Batch []pusherEventBody `json:"batch"`
	}
	if err := decodeJSONBytes(c.MustGet(ctxPusherBody).([]byte), &b); err != nil {
		h.writeError(c, err)
		return
	}
	if n := len(b.Batch); n < 1 || n > pusherproto.MaxBatchEvents {
		h.writeError(c, pushgate.Invalid("the batch is invalid", "batch: must hold 1 to 10 events"))
		return
	}
	events := make([]pusherproto.Event, len(b.Batch))
	for i := range b.Batch {
		e, err := h.pusherEvent(&b.Batch[i])
		if err != nil {
			h.writeError(c, batchError(i, err))
			return
		}
		events[i] = e
	}
	if err := h.opts.Pusher.Trigger(c.Request.Context(), currentApp(c).ID, events); err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{})
}

// batchError names the batch item an event's error is about.
func batchError(i int, err error) error {
	var e *pushgate.Error
	if errors.As(err, &e) {
		out := *e
		out.Message = "batch[" + strconv.Itoa(i) + "]: " + e.Message
		return &out
	}
	return err
}

func (h *Handler) pusherChannels(c *gin.Context) {
	subs, users := pusherInfoFields(c.Query("info"))
	all, err := h.opts.Pusher.Channels(c.Request.Context(), currentApp(c).ID, c.Query("filter_by_prefix"), subs, users)
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := make(map[string]pusherCounts, len(all))
	for name, i := range all {
		out[name] = countsOf(i)
	}
	c.JSON(http.StatusOK, gin.H{"channels": out})
}

func (h *Handler) pusherChannel(c *gin.Context) {
	subs, users := pusherInfoFields(c.Query("info"))
	info, err := h.opts.Pusher.Info(c.Request.Context(), currentApp(c).ID, c.Param("channel"), subs, users)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, info)
}

func (h *Handler) pusherUsers(c *gin.Context) {
	ids, err := h.opts.Pusher.Users(c.Request.Context(), currentApp(c).ID, c.Param("channel"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	users := make([]gin.H, len(ids))
	for i, id := range ids {
		users[i] = gin.H{"id": id}
	}
	c.JSON(http.StatusOK, gin.H{"users": users})
}

func (h *Handler) pusherTerminate(c *gin.Context) {
	if err := h.opts.Pusher.TerminateUser(c.Request.Context(), currentApp(c).ID, c.Param("userId")); err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{})
}

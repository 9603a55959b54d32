package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
)

func (h *Handler) routeApp(v1 *gin.RouterGroup) {
	v1.GET("/app", h.getApp)
	// Only admin keys manage keys and settings, so a leaked standard key
	// cannot mint keys that outlive it, lock the owner out, or point the
	// app's users' cookies at another URL.
	v1.PATCH("/app", h.requireAdmin, h.patchApp)
	v1.GET("/app/keys", h.requireAdmin, h.listKeys)
	v1.POST("/app/keys", h.requireAdmin, h.createKey)
	v1.DELETE("/app/keys/:keyId", h.requireAdmin, h.revokeKey)
}

type appDTO struct {
	AppID          string    `json:"appId"`
	Name           string    `json:"name"`
	Key            string    `json:"key"`
	CreatedAt      time.Time `json:"createdAt"`
	ConnectAuthURL *string   `json:"connectAuthUrl"`
	AllowedOrigins []string  `json:"allowedOrigins"`
	ClientEvents   bool      `json:"clientEvents"`
	// CompatKeepOffline is issue 16's setting (docs/notification-server.md).
	CompatKeepOffline bool `json:"compatKeepOffline"`
	// ChannelWebhookURL and SubscriptionCount are Pusher settings (docs/pusher.md).
	ChannelWebhookURL *string `json:"channelWebhookUrl"`
	SubscriptionCount bool    `json:"subscriptionCount"`
}

func toAppDTO(a *apps.App) appDTO {
	dto := appDTO{AppID: a.ID, Name: a.Name, Key: a.Key, CreatedAt: a.CreatedAt, AllowedOrigins: a.AllowedOrigins,
		ClientEvents: a.ClientEvents, CompatKeepOffline: a.CompatKeepOffline, SubscriptionCount: a.SubscriptionCount}
	if a.ChannelWebhookURL != "" {
		dto.ChannelWebhookURL = &a.ChannelWebhookURL
	}
	if a.ConnectAuthURL != "" {
		dto.ConnectAuthURL = &a.ConnectAuthURL
	}
	if dto.AllowedOrigins == nil {
		dto.AllowedOrigins = []string{}
	}
	return dto
}

// getApp reads the app again: the one its API key opened may be
// remembered from before a change of its settings.
func (h *Handler) getApp(c *gin.Context) {
	a, err := h.opts.Apps.Get(c.Request.Context(), currentApp(c).ID)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toAppDTO(a))
}

// appPatchRequest is PATCH /v1/app's body: each field raw, so that an
// absent one, null and a value are told apart.
type appPatchRequest struct {
	ConnectAuthURL    json.RawMessage `json:"connectAuthUrl"`
	AllowedOrigins    json.RawMessage `json:"allowedOrigins"`
	ClientEvents      json.RawMessage `json:"clientEvents"`
	CompatKeepOffline json.RawMessage `json:"compatKeepOffline"`
	ChannelWebhookURL json.RawMessage `json:"channelWebhookUrl"`
	SubscriptionCount json.RawMessage `json:"subscriptionCount"`
}

// patchApp changes the app's settings: each field present is set, null
// clears it, an absent one stays.
func (h *Handler) patchApp(c *gin.Context) {
	var req appPatchRequest
	if err := decodeJSON(c, &req); err != nil {
		h.writeError(c, err)
		return
	}
	patch, problems := req.patch()
	if len(problems) > 0 {
		h.writeError(c, pushgate.Invalid("the app settings are invalid", problems...))
		return
	}
	a, err := h.opts.Apps.UpdateSettings(c.Request.Context(), currentApp(c).ID, patch)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toAppDTO(a))
}

func (req *appPatchRequest) patch() (apps.SettingsPatch, []string) {
	var patch apps.SettingsPatch
	var problems []string
	field := func(raw json.RawMessage, dst any, nullable bool, name, want string) {
		if !isNull(raw) && json.Unmarshal(raw, dst) != nil || !nullable && isNull(raw) {
			problems = append(problems, name+": must be "+want)
		}
	}
	if req.ConnectAuthURL != nil {
		patch.ConnectAuthURL = new(string)
		field(req.ConnectAuthURL, patch.ConnectAuthURL, true, "connectAuthUrl", "a string (an https URL) or null")
	}
	if req.AllowedOrigins != nil {
		patch.AllowedOrigins = new([]string)
		field(req.AllowedOrigins, patch.AllowedOrigins, true, "allowedOrigins", "a list of origins (strings) or null")
	}
	if req.ClientEvents != nil {
		patch.ClientEvents = new(bool)
		field(req.ClientEvents, patch.ClientEvents, false, "clientEvents", "true or false")
	}
	if req.CompatKeepOffline != nil {
		patch.CompatKeepOffline = new(bool)
		field(req.CompatKeepOffline, patch.CompatKeepOffline, true, "compatKeepOffline", "true, false or null")
	}
	if req.ChannelWebhookURL != nil {
		patch.ChannelWebhookURL = new(string)
		field(req.ChannelWebhookURL, patch.ChannelWebhookURL, true, "channelWebhookUrl", "a string (an http(s) URL) or null")
	}
	if req.SubscriptionCount != nil {
		patch.SubscriptionCount = new(bool)
		field(req.SubscriptionCount, patch.SubscriptionCount, false, "subscriptionCount", "true or false")
	}
	if patch == (apps.SettingsPatch{}) {
		problems = append(problems, "body: must set connectAuthUrl, allowedOrigins, clientEvents, compatKeepOffline, channelWebhookUrl or subscriptionCount")
	}
	return patch, problems
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

type apiKeyDTO struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Prefix    string    `json:"prefix"`
	Role      apps.Role `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
	// Key is the plaintext, present only in the answer that created it.
	Key string `json:"key,omitempty"`
}

func toKeyDTO(k *apps.APIKey) apiKeyDTO {
	return apiKeyDTO{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Role: k.Role, CreatedAt: k.CreatedAt}
}

func (h *Handler) listKeys(c *gin.Context) {
	keys, err := h.opts.Apps.ListKeys(c.Request.Context(), currentApp(c).ID)
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := make([]apiKeyDTO, len(keys))
	for i, k := range keys {
		out[i] = toKeyDTO(k)
	}
	c.JSON(http.StatusOK, gin.H{"keys": out})
}

func (h *Handler) createKey(c *gin.Context) {
	var req struct {
		Name string    `json:"name"`
		Role apps.Role `json:"role"` // "" is standard: least power by default
	}
	if err := decodeJSON(c, &req); err != nil {
		h.writeError(c, err)
		return
	}
	k, plain, err := h.opts.Apps.CreateKey(c.Request.Context(), currentApp(c).ID, req.Name, req.Role)
	if err != nil {
		h.writeError(c, err)
		return
	}
	dto := toKeyDTO(k)
	dto.Key = plain
	c.JSON(http.StatusCreated, dto)
}

func (h *Handler) revokeKey(c *gin.Context) {
	id := c.Param("keyId")
	if !pushgate.ValidID(id) {
		h.writeError(c, pushgate.NotFound("API key"))
		return
	}
	if err := h.opts.Apps.RevokeKey(c.Request.Context(), currentApp(c).ID, id); err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
)

func (h *Handler) routeApp(v1 *gin.RouterGroup) {
	v1.GET("/app", h.getApp)
	// Only admin keys manage keys, so a leaked standard key cannot mint
	// keys that outlive it or lock the owner out.
	v1.GET("/app/keys", h.requireAdmin, h.listKeys)
	v1.POST("/app/keys", h.requireAdmin, h.createKey)
	v1.DELETE("/app/keys/:keyId", h.requireAdmin, h.revokeKey)
}

type appDTO struct {
	AppID     string    `json:"appId"`
	Name      string    `json:"name"`
	Key       string    `json:"key"`
	CreatedAt time.Time `json:"createdAt"`
}

func (h *Handler) getApp(c *gin.Context) {
	a := currentApp(c)
	c.JSON(http.StatusOK, appDTO{AppID: a.ID, Name: a.Name, Key: a.Key, CreatedAt: a.CreatedAt})
}

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

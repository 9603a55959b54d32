package pusherproto

import "context"

// ReapOnce runs one round of the reaper now.
func (h *Handler) ReapOnce(ctx context.Context) { h.reapOnce(ctx) }

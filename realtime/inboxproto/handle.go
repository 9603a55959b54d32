package inboxproto

import (
	"context"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/inbox"
)

// handle answers one client frame. Only history and ping are answered
// directly; ack, read, read_all and delete change the inbox, and every
// session of the user then hears the new unseen count from the hub.
func (s *session) handle(ctx context.Context, data []byte, readErr error) {
	if readErr != nil {
		s.c.Send(errorFrame(ErrBinary, readErr.Error(), ""))
		return
	}
	r, ferr := parse(data)
	if ferr != nil {
		s.c.Send(errorFrame(ferr.code, ferr.message, ferr.ref))
		return
	}
	var err error
	switch r.Type {
	case TypePing:
		s.c.Send(render(TypePong, refPayload{Ref: r.Ref}))
	case TypeAck:
		_, err = s.h.opts.Inbox.Mark(ctx, s.id.AppID, s.id.UserID, r.IDs, inbox.StatusDelivered)
	case TypeRead:
		_, err = s.h.opts.Inbox.Mark(ctx, s.id.AppID, s.id.UserID, r.IDs, inbox.StatusRead)
	case TypeDelete:
		_, err = s.h.opts.Inbox.Mark(ctx, s.id.AppID, s.id.UserID, r.IDs, inbox.StatusDeleted)
	case TypeReadAll:
		_, err = s.h.opts.Inbox.ReadAll(ctx, s.id.AppID, s.id.UserID)
	case TypeHistory:
		err = s.history(ctx, r)
	}
	if err != nil {
		s.fail(r.Ref, err)
	}
}

func (s *session) history(ctx context.Context, r *request) error {
	items, next, err := s.h.opts.Inbox.Inbox(ctx, inbox.Query{AppID: s.id.AppID, UserID: s.id.UserID,
		Filter: r.Filter, Since: r.Since, Cursor: r.Cursor, Limit: r.Limit})
	if err != nil {
		return err
	}
	if items == nil {
		items = []*inbox.Item{}
	}
	s.c.Send(render(TypeHistory, historyPayload{Items: items, Cursor: next, Ref: r.Ref}))
	return nil
}

// fail answers a frame the inbox refused: its own words for what the
// client got wrong, a fixed text for the server's failures.
func (s *session) fail(ref string, err error) {
	switch pushgate.ErrorCode(err) {
	case pushgate.EINVALID, pushgate.ENOTFOUND:
		s.c.Send(errorFrame(ErrInvalid, pushgate.ErrorMessage(err), ref))
	default:
		s.h.opts.Logger.Warn("realtime session: inbox", "app", s.id.AppID, "err", err)
		s.c.Send(errorFrame(ErrInternal, "the server could not do that now; send it again later", ref))
	}
}

package inbox

import (
	"context"
	"fmt"

	"github.com/pushgate/pushgate"
)

// Inbox pages one user's inbox (q.AppID and q.UserID are the token's).
// An empty filter is all; q.Now is filled in.
func (s *Service) Inbox(ctx context.Context, q Query) ([]*Item, string, error) {
	switch q.Filter {
	case "":
		q.Filter = FilterAll
	case FilterAll, FilterSeen, FilterUnseen:
	default:
		return nil, "", pushgate.Invalid("the inbox query is invalid", `status: must be "unseen", "seen" or "all"`)
	}
	limit, err := pageSize(q.Limit)
	if err != nil {
		return nil, "", err
	}
	q.Limit, q.Now = limit, s.clock()
	return s.store.Inbox(ctx, q)
}

// Item is one notification of the user's inbox.
func (s *Service) Item(ctx context.Context, appID, userID, id string) (*Item, error) {
	return s.store.Item(ctx, appID, userID, id, s.clock())
}

// Mark moves the user's state of ids (1 to MaxMarks) forward to status
// (delivered, read or deleted) and returns the items that changed, after
// telling Listener.Changed of them.
func (s *Service) Mark(ctx context.Context, appID, userID string, ids []string, status Status) ([]*Item, error) {
	switch status {
	case StatusDelivered, StatusRead, StatusDeleted:
	default:
		return nil, pushgate.Invalid("the status is invalid", `status: must be "delivered", "read" or "deleted"`)
	}
	if len(ids) == 0 || len(ids) > MaxMarks {
		return nil, pushgate.Invalid("the ids are invalid", fmt.Sprintf("ids: must list 1 to %d ids", MaxMarks))
	}
	unique := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		// An id that is no notification's is in nobody's inbox: left out.
		if pushgate.ValidID(id) && !seen[id] {
			seen[id] = true
			unique = append(unique, id)
		}
	}
	if len(unique) == 0 {
		return []*Item{}, nil
	}
	items, err := s.store.Mark(ctx, appID, userID, unique, status, s.clock())
	if err != nil {
		return nil, err
	}
	if l := s.listener(); l != nil && len(items) > 0 {
		l.Changed(ctx, appID, userID, items)
	}
	return items, nil
}

// ReadAll marks everything in the user's inbox as read and reports how
// many unread notifications that was; Listener.Changed hears of it when
// any were.
func (s *Service) ReadAll(ctx context.Context, appID, userID string) (int, error) {
	n, err := s.store.ReadAll(ctx, appID, userID, s.clock())
	if err != nil {
		return 0, err
	}
	if l := s.listener(); l != nil && n > 0 {
		l.Changed(ctx, appID, userID, nil)
	}
	return n, nil
}

// Unseen is the user's unseen count.
func (s *Service) Unseen(ctx context.Context, appID, userID string) (int, error) {
	return s.store.Unseen(ctx, appID, userID, s.clock())
}

package testenv

import (
	"context"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/recipients"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

// StoreEvents stores webhook events the ways the server does: a sent or
// failed event as the delivery result of its message (the message store's
// Finish writes the event with the result), and a delivered, clicked or
// close event as a client's report (the webhook store's
// RecordClientEvents, which the Recorder calls). A message an event names
// that is not stored yet is stored first, in the context contextID,
// queued and then claimed, with the foreign id of its first event. An
// event without a time happens at now. As on the server, an event is
// stored only if the message's bucket has a callback, and only the first
// of a message's events of a kind.
func StoreEvents(ctx context.Context, db *sqlstore.DB, contextID string, now time.Time, events ...webhooks.Event) error {
	msgs, err := eventMessages(ctx, db, contextID, now, events)
	if err != nil {
		return err
	}
	var results []messages.Result
	var reports []webhooks.ClientEvent
	finished := map[string]bool{}
	for _, e := range events {
		at := e.At
		if at.IsZero() {
			at = now
		}
		switch e.Kind {
		case webhooks.Sent, webhooks.Failed:
			if finished[e.MessageID] {
				continue // a message has one result
			}
			finished[e.MessageID] = true
			r := messages.Result{Message: msgs[e.MessageID], Status: messages.Sent, Attempts: 1, At: at.UTC()}
			if e.Kind == webhooks.Failed {
				r.Status, r.Reason = messages.Failed, e.Reason
			}
			results = append(results, r)
		default:
			id := e.ID
			if id == "" {
				id = pushgate.NewID()
			}
			r := webhooks.ClientEvent{EventID: id, ContextID: contextID, MessageID: e.MessageID, Kind: e.Kind, At: at.UTC()}
			if e.Kind == webhooks.Clicked {
				r.Action = e.Action
			}
			reports = append(reports, r)
		}
	}
	if err := db.Messages().Finish(ctx, results); err != nil {
		return err
	}
	if len(reports) == 0 {
		return nil
	}
	_, err = db.Webhooks().RecordClientEvents(ctx, reports)
	return err
}

// eventMessages returns the messages events name, storing (and claiming)
// those not stored yet.
func eventMessages(ctx context.Context, db *sqlstore.DB, contextID string, now time.Time, events []webhooks.Event) (map[string]*messages.Message, error) {
	store := db.Messages()
	out := map[string]*messages.Message{}
	var fresh []*messages.Message
	var ids []string
	for _, e := range events {
		if _, ok := out[e.MessageID]; ok {
			continue
		}
		m, err := store.Get(ctx, e.AppID, e.BucketID, e.MessageID)
		if pushgate.ErrorCode(err) == pushgate.ENOTFOUND {
			credID := pushgate.NewID()
			m = &messages.Message{ID: e.MessageID, AppID: e.AppID, BucketID: e.BucketID, ContextID: contextID, CredentialID: credID,
				Provider: "fcm_v1", ForeignID: e.ForeignID, Receiver: recipients.Receiver{CredentialID: credID, ForeignID: e.ForeignID, Token: "token"},
				Status: messages.Queued, CreatedAt: now.UTC(), UpdatedAt: now.UTC(), EnqueuedAt: now.UTC()}
			fresh, ids = append(fresh, m), append(ids, m.ID)
		} else if err != nil {
			return nil, err
		}
		out[e.MessageID] = m
	}
	if err := store.Insert(ctx, fresh); err != nil {
		return nil, err
	}
	claimed, err := store.Claim(ctx, ids, now, now.Add(time.Hour))
	if err != nil {
		return nil, err
	}
	for _, m := range claimed {
		out[m.ID] = m
	}
	return out, nil
}

package webhooks

import "encoding/json"

// The body's field names are CORE's: consumers written for PushPushGo CORE
// parse it unchanged.
type (
	body struct {
		Messages []bodyMessage `json:"messages"`
	}
	bodyMessage struct {
		MessageID string     `json:"messageId"`
		ForeignID string     `json:"foreignId"`
		Result    bodyResult `json:"result"`
		TS        int64      `json:"ts"`
	}
	bodyResult struct {
		Kind   Kind   `json:"kind"`
		Reason string `json:"reason,omitempty"`
		Action string `json:"action,omitempty"`
	}
)

// Body renders events as CORE's webhook body:
// {"messages":[{"messageId","foreignId","result":{"kind",...},"ts"}]},
// ts in Unix milliseconds, result.reason on failed and result.action on
// clicked events when they have one.
func Body(events []Event) ([]byte, error) {
	b := body{Messages: make([]bodyMessage, len(events))}
	for i, e := range events {
		m := &b.Messages[i]
		m.MessageID, m.ForeignID, m.TS = e.MessageID, e.ForeignID, e.At.UnixMilli()
		m.Result.Kind = e.Kind
		switch e.Kind {
		case Failed:
			m.Result.Reason = e.Reason
		case Clicked:
			m.Result.Action = e.Action
		}
	}
	return json.Marshal(b)
}

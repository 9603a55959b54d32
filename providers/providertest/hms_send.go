package providertest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// hmsRequest is what the fake reads of a v1 send.
type hmsRequest struct {
	ValidateOnly bool `json:"validate_only"`
	Message      *struct {
		Data         *string         `json:"data"`
		Notification json.RawMessage `json:"notification"`
		Android      map[string]any  `json:"android"`
		Token        []string        `json:"token"`
		Topic        string          `json:"topic"`
	} `json:"message"`
}

func (f *HMSFake) send(w http.ResponseWriter, r *http.Request, appID string) {
	f.requests.Add(1)
	if !f.authorized(w, r, appID) {
		return
	}
	f.mu.Lock()
	if len(f.next) > 0 {
		rep := f.next[0]
		f.next = f.next[1:]
		f.mu.Unlock()
		if rep.RetryAfter != "" {
			w.Header().Set("Retry-After", rep.RetryAfter)
		}
		hmsAnswer(w, rep.Status, rep.Code, rep.Msg)
		return
	}
	f.mu.Unlock()
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var req hmsRequest
	if err != nil || json.Unmarshal(body, &req) != nil || req.Message == nil {
		hmsAnswer(w, 400, "80100003", "Illegal payload, the body is not a message")
		return
	}
	if problem := checkHMSMessage(&req); problem != "" {
		hmsAnswer(w, 400, "80100003", problem)
		return
	}
	m := req.Message
	if len(m.Token) == 0 || len(m.Token) > 1000 {
		hmsAnswer(w, 400, "80300010", "the number of tokens must be 1 to 1000")
		return
	}
	f.accept(w, appID, m.Token, m.Data, m.Android)
}

// authorized checks the bearer: an unexpired token issued to appID.
func (f *HMSFake) authorized(w http.ResponseWriter, r *http.Request, appID string) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	g, known := f.grants[tok]
	f.mu.Unlock()
	switch {
	case !ok || !known || g.appID != appID:
		hmsAnswer(w, 401, "80200001", "Oauth authentication error")
		return false
	case time.Now().After(g.expires):
		hmsAnswer(w, 401, "80200003", "Oauth Token expired")
		return false
	}
	return true
}

// checkHMSMessage refuses what Push Kit refuses of a message's shape.
func checkHMSMessage(req *hmsRequest) string {
	m := req.Message
	if m.Topic != "" || len(m.Notification) > 0 && string(m.Notification) != "null" {
		return "the fake takes token messages with android.notification only"
	}
	if m.Android == nil {
		return "android is required"
	}
	if ttl, ok := m.Android["ttl"].(string); !ok || !strings.HasSuffix(ttl, "s") {
		return "android.ttl must be a duration such as \"86400s\""
	}
	if u, ok := m.Android["urgency"]; ok && u != "HIGH" && u != "NORMAL" {
		return "android.urgency must be HIGH or NORMAL"
	}
	if m.Data != nil && *m.Data == "" {
		return "data must not be empty when given"
	}
	n, hasN := m.Android["notification"].(map[string]any)
	if !hasN && m.Android["notification"] != nil {
		return "android.notification must be an object"
	}
	if hasN {
		ca, _ := n["click_action"].(map[string]any)
		t, _ := ca["type"].(float64)
		if n["title"] == nil || n["body"] == nil || ca == nil || t < 1 || t > 4 || (t == 2 && ca["url"] == nil) {
			return "android.notification needs title, body and click_action (type 1 to 4, url for type 2)"
		}
	}
	b, _ := json.Marshal(m)
	if len(b) > 4096+1000*520 {
		return "too large"
	}
	return ""
}

func (f *HMSFake) accept(w http.ResponseWriter, appID string, tokens []string, data *string, android map[string]any) {
	f.mu.Lock()
	var illegal []string
	d := ""
	if data != nil {
		d = *data
	}
	for _, t := range tokens {
		if f.illegal[t] {
			illegal = append(illegal, t)
			continue
		}
		f.sent = append(f.sent, HMSMessage{AppID: appID, Token: t, Data: d, Android: android, Tokens: len(tokens)})
	}
	f.mu.Unlock()
	switch {
	case len(illegal) == 0:
		hmsAnswer(w, 200, "80000000", "Success")
	case len(illegal) == len(tokens):
		hmsAnswer(w, 400, "80300007", "All the tokens are invalid")
	default:
		msg, _ := json.Marshal(map[string]any{"success": len(tokens) - len(illegal), "failure": len(illegal), "illegal_tokens": illegal})
		hmsAnswer(w, 200, "80100000", string(msg))
	}
}

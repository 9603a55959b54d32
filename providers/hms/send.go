package hms

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/pushgate/pushgate/providers"
)

// request is the messages of one Push Kit request: the same body for
// every token.
type request struct {
	body []byte // the JSON of the message, without its tokens
	idx  []int  // indexes of the batch's messages
}

// SendBatch sends ms (one context), sharing a request between the messages
// whose rendered message is the same, up to MaxTokens a request.
func (p *Provider) SendBatch(ctx context.Context, ms []*providers.Message) []error {
	errs := make([]error, len(ms))
	now := p.now()
	byBody := map[string]*request{}
	var reqs []*request
	for i, m := range ms {
		body, err := p.render(m, now)
		if err != nil {
			errs[i] = err
			continue
		}
		r := byBody[string(body)]
		if r == nil || len(r.idx) == MaxTokens {
			r = &request{body: body}
			byBody[string(body)] = r
			reqs = append(reqs, r)
		}
		r.idx = append(r.idx, i)
	}
	p.forEach(len(reqs), func(k int) { p.send(ctx, reqs[k], ms, errs) })
	return errs
}

// render is the JSON of m's message, or m's permanent failure.
func (p *Provider) render(m *providers.Message, now time.Time) ([]byte, error) {
	if m == nil || m.Context == nil {
		return nil, providers.Permanent(providers.ReasonInvalidPayload, 0, fmt.Errorf("hms: message without a context"))
	}
	if m.Receiver.Token == "" {
		return nil, providers.Permanent(providers.ReasonInvalidToken, 0, fmt.Errorf("hms: message %s has no token", m.ID))
	}
	ttl, ok := ttlAt(m.ExpiresAt, now)
	if !ok {
		return nil, providers.Permanent(providers.ReasonExpired, 0, fmt.Errorf("hms: message %s expired at %s", m.ID, m.ExpiresAt.Format(time.RFC3339)))
	}
	id := identity{messageID: m.ID, contextID: m.Context.ID, foreignID: cmp.Or(m.ForeignID, m.Receiver.ForeignID)}
	msg, err := render(m.Context, id, ttl)
	if err == nil {
		var b []byte
		if b, err = json.Marshal(msg); err == nil {
			return b, nil
		}
	}
	return nil, providers.Permanent(providers.ReasonInvalidPayload, 0, fmt.Errorf("hms: rendering message %s: %w", m.ID, err))
}

// send makes one request for r and sets the errors of its messages.
func (p *Provider) send(ctx context.Context, r *request, ms []*providers.Message, errs []error) {
	tokens := make([]string, len(r.idx))
	for k, i := range r.idx {
		tokens[k] = ms[i].Receiver.Token
	}
	tj, _ := json.Marshal(tokens)
	var body bytes.Buffer
	body.WriteString(`{"validate_only":false,"message":`)
	body.Write(r.body[:len(r.body)-1])
	body.WriteString(`,"token":`)
	body.Write(tj)
	body.WriteString(`}}`)

	perToken, all := p.post(ctx, body.Bytes())
	for _, i := range r.idx {
		errs[i] = all
		if err, ok := perToken[ms[i].Receiver.Token]; ok {
			errs[i] = err
		}
	}
}

// post sends body with the credential's access token, and once more with
// a fresh one when Push Kit says the token is no longer valid.
func (p *Provider) post(ctx context.Context, body []byte) (map[string]error, error) {
	stale := ""
	for attempt := 0; ; attempt++ {
		tok, err := p.tokens.get(ctx, stale)
		if err != nil {
			return nil, err
		}
		a, err := p.do(ctx, tok, body)
		if err != nil {
			return nil, err
		}
		if a.tokenRefused() && attempt == 0 {
			stale = tok
			continue
		}
		return a.outcome()
	}
}

func (p *Provider) do(ctx context.Context, token string, body []byte) (*answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.sendURL, bytes.NewReader(body))
	if err != nil {
		return nil, providers.Permanent(providers.ReasonBadCredentials, 0, fmt.Errorf("hms: pushUrl: %w", err))
	}
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := p.client.Do(req)
	if err != nil {
		return nil, transportError("sending", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 256<<10))
	a := &answer{status: res.StatusCode, retryAfter: retryAfter(res, p.now()), raw: raw}
	if json.Unmarshal(raw, a) != nil {
		a.Code = ""
	}
	return a, nil
}

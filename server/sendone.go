package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/recipients"
)

// OneSend is a notification to one receiver, sent straight to its push
// service with no database, queue or bucket: `pushgate send`, to try a
// credential and a device. Each part is JSON as the REST API takes it.
type OneSend struct {
	// Credential is one entry of a bucket's providerCredentials:
	// {"type": ..., "payload": {...}}.
	Credential json.RawMessage
	// Receiver is one receiver of a send, without credentialId.
	Receiver json.RawMessage
	// Kind and Context are the context: a data, raw or silent context's
	// body as POST /v1/bucket/{id}/context/{kind} takes it.
	Kind    contexts.Kind
	Context json.RawMessage
}

// OneResult is what the push service answered.
type OneResult struct {
	MessageID string `json:"messageId"`
	Provider  string `json:"provider"`
	Status    string `json:"status"` // sent or failed
	Reason    string `json:"reason,omitempty"`
	// Permanent tells whether sending again could help (false: try later).
	Permanent bool   `json:"permanent,omitempty"`
	HTTP      int    `json:"httpStatus,omitempty"`
	Error     string `json:"error,omitempty"`
	Millis    int64  `json:"elapsedMs"`
}

// SendOne checks req as the REST API would (credential, context, receiver)
// and sends it with the providers cfg sets up. An invalid request is an
// error (a *pushgate.Error listing its problems); a push service's refusal
// is a OneResult with status failed.
func SendOne(ctx context.Context, cfg Config, req OneSend) (*OneResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := newServer(cfg)
	cred, err := s.oneCredential(req.Credential)
	if err != nil {
		return nil, err
	}
	reg := s.pushProviders()
	if !reg.Has(cred.Type) {
		return nil, pushgate.Invalid("the credential cannot be used here",
			fmt.Sprintf("credential.type: %s receivers are users of this installation's inbox; send to them through the API", cred.Type))
	}
	mc, err := contexts.Options{Guard: s.guard}.Parse(req.Kind, req.Context, s.now())
	if err != nil {
		return nil, err
	}
	if err := reg.Check(cred.Type, mc); err != nil {
		return nil, err
	}
	r, err := oneReceiver(req.Receiver, cred, recipients.Options{AllowHTTPEndpoints: cfg.WebPushAllowHTTP, Guard: s.guard})
	if err != nil {
		return nil, err
	}
	p, err := reg.New(cred)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	m := &providers.Message{ID: pushgate.NewID(), Context: mc, Receiver: *r, ExpiresAt: mc.ExpiresAt()}
	start := time.Now()
	sendErr := p.Send(ctx, m)
	res := &OneResult{MessageID: m.ID, Provider: string(cred.Type), Status: "sent", Millis: time.Since(start).Milliseconds()}
	if o := providers.Classify(sendErr); o != nil {
		res.Status, res.Reason, res.Permanent, res.HTTP = "failed", string(o.Reason), o.Permanent, o.Status
		if o.Err != nil {
			res.Error = o.Err.Error()
		}
	}
	return res, nil
}

// oneCredential parses raw as the single credential of a bucket request.
func (s *Server) oneCredential(raw json.RawMessage) (*buckets.Credential, error) {
	body, _ := json.Marshal(map[string]any{"providerCredentials": []json.RawMessage{raw}, "callbackConfig": map[string]string{"type": "none"}})
	creds, _, err := buckets.ParseCreateRequest(body, s.credentialOptions())
	if err != nil {
		return nil, renamePaths(err, "providerCredentials[0]", "credential")
	}
	cred := creds[0]
	cred.ID = "cli"
	return cred, nil
}

// oneReceiver decodes and checks raw as a receiver of cred.
func oneReceiver(raw json.RawMessage, cred *buckets.Credential, opts recipients.Options) (*recipients.Receiver, error) {
	var r recipients.Receiver
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, pushgate.Invalid("the receiver is invalid", "receiver: must be a JSON object of a send's receiver ("+err.Error()+")")
	}
	r.CredentialID = cred.ID
	if errs := recipients.Validate(r, cred, opts); len(errs) > 0 {
		for i, e := range errs {
			errs[i] = "receiver." + e
		}
		return nil, pushgate.Invalid("the receiver is invalid", errs...)
	}
	return &r, nil
}

// renamePaths rewrites the field paths of an invalid-request error.
func renamePaths(err error, from, to string) error {
	var pe *pushgate.Error
	if !errors.As(err, &pe) {
		return err
	}
	out := *pe
	out.Fields = make([]string, len(pe.Fields))
	for i, d := range pe.Fields {
		out.Fields[i] = strings.Replace(d, from, to, 1)
	}
	return &out
}

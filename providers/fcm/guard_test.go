package fcm_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/providers/fcm"
	"github.com/pushgate/pushgate/providers/providertest"
)

// withTokenURI returns the fake's service account with its token_uri
// replaced, as a tenant may write any URL there.
func withTokenURI(t *testing.T, fake *providertest.FCMFake, uri string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fake.ServiceAccountJSON("shop-app"), &m); err != nil {
		t.Fatal(err)
	}
	m["token_uri"] = uri
	b, _ := json.Marshal(m)
	return b
}

// victim is an internal service on this host that answers like a token
// endpoint, and counts who reached it.
func victim(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"stolen","token_type":"Bearer","expires_in":3600}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func silent() *contexts.Context {
	return &contexts.Context{ID: "c", Kind: contexts.KindSilent, Silent: &contexts.Silent{}}
}

// TestTokenURIGoesThroughTheGuard: with fcm_endpoint set (so any token_uri
// is accepted), a service account pointing its token_uri at an internal
// address does not make the node post to it.
func TestTokenURIGoesThroughTheGuard(t *testing.T) {
	fake := providertest.NewFCM(t)
	internal, hits := victim(t)
	cred := credential(withTokenURI(t, fake, internal.URL+"/token"), "shop-app")

	p, err := fcm.New(cred, fcm.Options{Endpoint: fake.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	o := providers.Classify(p.Send(context.Background(), message("m", silent(), token(1))))
	if o == nil || o.Reason != providers.ReasonForbiddenAddress || !o.Permanent || !strings.Contains(o.Error(), "127.0.0.1 is a forbidden address") {
		t.Errorf("outcome %v, want permanent forbidden_address", o)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the internal service got %d token requests", n)
	}
	if c := fake.Counts(); c.Requests != 0 {
		t.Errorf("the fake got %d sends", c.Requests)
	}

	// The allow-list wins: an operator may allow an internal token server.
	allow, _ := pushgate.NewSSRFGuard("127.0.0.0/8")
	p2, err := fcm.New(cred, fcm.Options{Endpoint: fake.URL + "/v1", Guard: allow})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	p2.Send(context.Background(), message("m", silent(), token(1)))
	if n := hits.Load(); n != 1 {
		t.Errorf("with 127.0.0.0/8 allowed the token server got %d requests, want 1", n)
	}
}

// TestTokenRedirectIsNotFollowed: a token endpoint that redirects is not
// followed, even to an address the guard would allow.
func TestTokenRedirectIsNotFollowed(t *testing.T) {
	fake := providertest.NewFCM(t)
	redirector := httptest.NewServer(http.RedirectHandler(fake.URL+"/token", http.StatusTemporaryRedirect))
	t.Cleanup(redirector.Close)
	allow, _ := pushgate.NewSSRFGuard("127.0.0.0/8")
	p, err := fcm.New(credential(withTokenURI(t, fake, redirector.URL+"/token"), "shop-app"), fcm.Options{Endpoint: fake.URL + "/v1", Guard: allow})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	o := providers.Classify(p.Send(context.Background(), message("m", silent(), token(1))))
	if o == nil || o.Reason != providers.ReasonBadCredentials || !o.Permanent || o.Status != http.StatusTemporaryRedirect {
		t.Errorf("outcome %v, want permanent bad_credentials with the 307", o)
	}
	if c := fake.Counts(); c.TokensIssued+c.TokensRefused != 0 {
		t.Errorf("the redirect was followed: %+v", c)
	}
}

// TestSendRedirectIsNotFollowed: FCM's endpoint is trusted, but a redirect
// from it is not followed.
func TestSendRedirectIsNotFollowed(t *testing.T) {
	fake := providertest.NewFCM(t)
	var followed atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	t.Cleanup(target.Close)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(front.Close)
	allow, _ := pushgate.NewSSRFGuard("127.0.0.0/8")
	p, err := fcm.New(credential(fake.ServiceAccountJSON("shop-app"), "shop-app"), fcm.Options{Endpoint: front.URL + "/v1", Guard: allow})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Send(context.Background(), message("m", silent(), token(1))); err == nil {
		t.Error("a send answered with a redirect succeeded")
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
	if c := fake.Counts(); c.TokensIssued != 1 {
		t.Errorf("token endpoint counts %+v, want one token issued", c)
	}
}

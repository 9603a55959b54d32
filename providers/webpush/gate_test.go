package webpush

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/providers"
)

func testVAPID(t *testing.T, id string) *buckets.Credential {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return &buckets.Credential{ID: id, Type: buckets.VAPID, VAPID: &buckets.VAPIDCredential{
		PublicKey: enc(k.PublicKey().Bytes()), PrivateKey: enc(k.Bytes()), Subject: "mailto:ops@pushgate.test"}}
}

// The encryption limit is the registry's, not the credential's: every
// provider one Register builds shares one gate, and another Register (or
// a provider made with New) has its own.
func TestProvidersOfOneRegisterShareTheEncryptionGate(t *testing.T) {
	build := func(r *providers.Registry, id string) *Provider {
		p, err := r.New(testVAPID(t, id))
		if err != nil {
			t.Fatal(err)
		}
		return p.(*Provider)
	}
	r := providers.NewRegistry()
	Register(r, Options{})
	a, b := build(r, "a"), build(r, "b")
	if a.gate == nil || a.gate != b.gate {
		t.Fatal("two credentials of one registry have their own encryption gates")
	}
	if cap(a.gate) < 2 {
		t.Fatalf("gate of %d slots, want at least 2", cap(a.gate))
	}
	other := providers.NewRegistry()
	Register(other, Options{})
	if build(other, "c").gate == a.gate {
		t.Fatal("two registries share an encryption gate")
	}
	p, err := New(testVAPID(t, "d"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.gate == nil || p.gate == a.gate {
		t.Fatal("a provider made with New has no gate of its own")
	}
}

// Command clientcheck drives a running pushgate through the Go client that
// oapi-codegen generates from openapi.yaml (into pushgateclient/, by
// .ci/clients): it creates a bucket with every credential type, a data
// context, sends it to a receiver of each credential and checks every
// answer. It uses the generated types only: no casts and no maps for
// credentials, so a schema that cannot express a valid request fails to
// compile here, and one that says something other than what the server
// does fails the run.
//
//	go run . -url http://127.0.0.1:8080 -key pgk_...
package main

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pushgate/pushgate/test/clients/go/pushgateclient"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "pushgate's base URL")
	key := flag.String("key", os.Getenv("PUSHGATE_API_KEY"), "an API key of the app")
	flag.Parse()
	if err := run(context.Background(), *url, *key); err != nil {
		fmt.Fprintln(os.Stderr, "clientcheck:", err)
		os.Exit(1)
	}
	fmt.Println("clientcheck: every answer is what openapi.yaml says")
}

func run(ctx context.Context, url, key string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := pushgateclient.NewClientWithResponses(url, pushgateclient.WithRequestEditorFn(
		func(_ context.Context, r *http.Request) error {
			r.Header.Set("x-token", key)
			return nil
		}))
	if err != nil {
		return err
	}
	creds, err := everyCredential()
	if err != nil {
		return err
	}
	bucket, err := createBucket(ctx, c, creds)
	if err != nil {
		return err
	}
	if err := refusedBucket(ctx, c); err != nil {
		return err
	}
	contextID, err := createDataContext(ctx, c, bucket.BucketId.String())
	if err != nil {
		return err
	}
	return send(ctx, c, bucket, contextID)
}

// everyCredential makes one credential of each type the server accepts,
// with freshly generated keys that pass its checks.
func everyCredential() ([]pushgateclient.Credential, error) {
	apnsKey, err := p256PKCS8()
	if err != nil {
		return nil, err
	}
	certPEM, certKeyPEM, err := pushCertificate("com.example.app")
	if err != nil {
		return nil, err
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	rsaPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))
	vapid, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}

	var production pushgateclient.ProductionFlag
	var appID pushgateclient.HmsPayload_AppId
	var certPayload pushgateclient.ApnsCertPayload
	var fcmPayload pushgateclient.FcmV1Payload
	bundle := "com.example.app"
	subject := "mailto:ops@example.com"
	errs := []error{
		production.FromProductionFlag0(false),
		appID.FromHmsPayloadAppId0("104520117"),
		certPayload.FromApnsCertPem(pushgateclient.ApnsCertPem{Cert: certPEM, Key: certKeyPEM}),
		fcmPayload.FromFcmServiceAccount(pushgateclient.FcmServiceAccount{
			Type:        pushgateclient.ServiceAccount,
			ProjectId:   "example-project",
			PrivateKey:  rsaPEM,
			ClientEmail: "pusher@example-project.iam.gserviceaccount.com",
			TokenUri:    "https://oauth2.googleapis.com/token",
		}),
	}
	creds := make([]pushgateclient.Credential, 6)
	errs = append(errs,
		creds[0].FromApnsTokenCredential(pushgateclient.ApnsTokenCredential{
			Type: pushgateclient.ApnsTokenCredentialTypeApnsToken,
			Payload: pushgateclient.ApnsTokenPayload{
				Key: apnsKey, KeyId: "ABCDE12345", TeamId: "TEAM123456", AppBundleId: &bundle, Production: &production,
			},
		}),
		creds[1].FromApnsCertCredential(pushgateclient.ApnsCertCredential{
			Type: pushgateclient.ApnsCertCredentialTypeApnsCert, Payload: certPayload,
		}),
		creds[2].FromFcmV1Credential(pushgateclient.FcmV1Credential{
			Type: pushgateclient.FcmV1CredentialTypeFcmV1, Payload: fcmPayload,
		}),
		creds[3].FromHmsCredential(pushgateclient.HmsCredential{
			Type:    pushgateclient.HmsCredentialTypeHms,
			Payload: pushgateclient.HmsPayload{AppId: appID, AppSecret: "an-app-secret"},
		}),
		creds[4].FromVapidCredential(pushgateclient.VapidCredential{
			Type: pushgateclient.VapidCredentialTypeVapid,
			Payload: pushgateclient.VapidPayload{
				PublicKey:  base64.RawURLEncoding.EncodeToString(vapid.PublicKey().Bytes()),
				PrivateKey: base64.RawURLEncoding.EncodeToString(vapid.Bytes()),
				Subject:    &subject,
			},
		}),
		creds[5].FromWebSocketCredential(pushgateclient.WebSocketCredential{
			Type: pushgateclient.WebSocketCredentialTypeWebsocket,
		}),
	)
	return creds, errors.Join(errs...)
}

// wantTypes is everyCredential's order.
var wantTypes = []pushgateclient.CredentialType{
	pushgateclient.CredentialTypeApnsToken, pushgateclient.CredentialTypeApnsCert, pushgateclient.CredentialTypeFcmV1,
	pushgateclient.CredentialTypeHms, pushgateclient.CredentialTypeVapid, pushgateclient.CredentialTypeWebsocket,
}

func createBucket(ctx context.Context, c *pushgateclient.ClientWithResponses, creds []pushgateclient.Credential) (*pushgateclient.BucketCreated, error) {
	res, err := c.CreateBucketWithResponse(ctx, pushgateclient.CreateBucket{
		ProviderCredentials: creds,
		CallbackConfig:      pushgateclient.CallbackConfig{Type: pushgateclient.CallbackConfigTypeNone},
	})
	if err != nil {
		return nil, fmt.Errorf("create bucket: %w", err)
	}
	if res.JSON200 == nil {
		return nil, fmt.Errorf("create bucket: %d %s", res.StatusCode(), res.Body)
	}
	b := res.JSON200
	var got []pushgateclient.CredentialType
	for _, cr := range b.Credentials {
		got = append(got, cr.Type)
	}
	if !slices.Equal(got, wantTypes) {
		return nil, fmt.Errorf("create bucket: credential types %v, want %v", got, wantTypes)
	}
	if !strings.HasPrefix(b.WebhookSecret, "whsec_") {
		return nil, fmt.Errorf("create bucket: webhookSecret %q is no Standard Webhooks secret", b.WebhookSecret)
	}
	return b, nil
}

// refusedBucket checks that a refusal comes back as the Error schema,
// naming the field.
func refusedBucket(ctx context.Context, c *pushgateclient.ClientWithResponses) error {
	var cred pushgateclient.Credential
	if err := cred.FromVapidCredential(pushgateclient.VapidCredential{
		Type:    pushgateclient.VapidCredentialTypeVapid,
		Payload: pushgateclient.VapidPayload{PublicKey: "not-a-key", PrivateKey: "not-a-key"},
	}); err != nil {
		return err
	}
	res, err := c.CreateBucketWithResponse(ctx, pushgateclient.CreateBucket{
		ProviderCredentials: []pushgateclient.Credential{cred},
		CallbackConfig:      pushgateclient.CallbackConfig{Type: pushgateclient.CallbackConfigTypeNone},
	})
	if err != nil {
		return fmt.Errorf("refused bucket: %w", err)
	}
	if res.JSON400 == nil || res.JSON400.Code != pushgateclient.ErrorCodeValidationFailed {
		return fmt.Errorf("refused bucket: %d %s, want 400 validation_failed", res.StatusCode(), res.Body)
	}
	if !slices.ContainsFunc(res.JSON400.Errors, func(e string) bool {
		return strings.HasPrefix(e, "providerCredentials[0].payload.publicKey")
	}) {
		return fmt.Errorf("refused bucket: errors %q do not name providerCredentials[0].payload.publicKey", res.JSON400.Errors)
	}
	return nil
}

func createDataContext(ctx context.Context, c *pushgateclient.ClientWithResponses, bucketID string) (string, error) {
	title, body, link := "Hello", "From a generated client", "https://example.com/welcome"
	badge, ttl := 3, 3600
	vibrate := []int{100, 50, 100}
	actions := []pushgateclient.Action{{Action: "open", Title: "Open"}}
	res, err := c.CreateDataContextWithResponse(ctx, bucketID, pushgateclient.DataContext{
		Title: &title, Body: &body, Behaviour: &link, Badge: &badge, BadgeMobile: &badge,
		Ttl: &ttl, Vibrate: &vibrate, Actions: &actions,
	})
	if err != nil {
		return "", fmt.Errorf("create data context: %w", err)
	}
	if res.JSON200 == nil {
		return "", fmt.Errorf("create data context: %d %s", res.StatusCode(), res.Body)
	}
	return res.JSON200.ContextId.String(), nil
}

// send sends the context to one receiver of each credential and checks
// that every one was accepted and can be looked up.
func send(ctx context.Context, c *pushgateclient.ClientWithResponses, b *pushgateclient.BucketCreated, contextID string) error {
	receivers, err := everyReceiver(b)
	if err != nil {
		return err
	}
	res, err := c.SendToContextWithResponse(ctx, b.BucketId.String(), contextID, pushgateclient.SendToContext{Receivers: receivers})
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if res.JSON200 == nil || len(res.JSON200.Results) != len(receivers) {
		return fmt.Errorf("send: %d %s, want a result per receiver", res.StatusCode(), res.Body)
	}
	for i, r := range res.JSON200.Results {
		if r.MessageId == nil || len(r.Errors) > 0 {
			return fmt.Errorf("send: receiver %d (%s) refused: %q", i, wantTypes[i], r.Errors)
		}
		msg, err := c.GetMessageWithResponse(ctx, b.BucketId.String(), r.MessageId.String())
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		if msg.JSON200 == nil || msg.JSON200.Provider != wantTypes[i] || msg.JSON200.ContextId.String() != contextID {
			return fmt.Errorf("message %d: %d %s, want a %s message of context %s", i, msg.StatusCode(), msg.Body, wantTypes[i], contextID)
		}
	}
	return nil
}

// everyReceiver makes a receiver for each credential of b, in its order.
func everyReceiver(b *pushgateclient.BucketCreated) ([]pushgateclient.Receiver, error) {
	id := func(i int) string { return b.Credentials[i].Id.String() }
	apnsToken := hex.EncodeToString(randomBytes(32))
	sub, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	hmsType := pushgateclient.Hmsandroid
	rs := make([]pushgateclient.Receiver, 6)
	errs := []error{
		rs[0].FromApnsReceiver(pushgateclient.ApnsReceiver{CredentialId: id(0), Token: apnsToken}),
		rs[1].FromApnsReceiver(pushgateclient.ApnsReceiver{CredentialId: id(1), Token: apnsToken}),
		rs[2].FromFcmReceiver(pushgateclient.FcmReceiver{CredentialId: id(2), Token: "fcm-token:APA91b" + hex.EncodeToString(randomBytes(16))}),
		rs[3].FromHmsReceiver(pushgateclient.HmsReceiver{CredentialId: id(3), Token: "IQAAAACy0" + hex.EncodeToString(randomBytes(16)), Type: &hmsType}),
		rs[4].FromWebPushReceiver(pushgateclient.WebPushReceiver{
			CredentialId: id(4),
			Endpoint:     "https://push.example.com/send/" + hex.EncodeToString(randomBytes(8)),
			P256dh:       base64.RawURLEncoding.EncodeToString(sub.PublicKey().Bytes()),
			Auth:         base64.RawURLEncoding.EncodeToString(randomBytes(16)),
		}),
		rs[5].FromWebSocketReceiver(pushgateclient.WebSocketReceiver{CredentialId: id(5), UserId: "user-42"}),
	}
	return rs, errors.Join(errs...)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}

// p256PKCS8 is what an APNS .p8 file holds.
func p256PKCS8() (string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// pushCertificate is a self-signed stand-in for an Apple push certificate:
// valid now, with the bundle id in its subject UID.
func pushCertificate(bundleID string) (certPEM, keyPEM string, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	uid := asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject: pkix.Name{CommonName: "Apple Push Services: " + bundleID,
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: uid, Value: bundleID}}},
		NotBefore: time.Now().Add(-time.Hour),
		NotAfter:  time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})), nil
}

package buckets

import (
	"encoding/json"
	"fmt"
)

// The sealed forms have their own JSON names so that renaming a Go field
// can never make credentials already at rest unreadable.
type (
	sealedAPNSToken struct {
		Key        string `json:"key"`
		KeyID      string `json:"keyId"`
		TeamID     string `json:"teamId"`
		Topic      string `json:"topic"`
		Production bool   `json:"production"`
	}
	sealedAPNSCert struct {
		CertPEM    string `json:"certPem"`
		KeyPEM     string `json:"keyPem"`
		Topic      string `json:"topic"`
		Production bool   `json:"production"`
	}
	sealedFCM struct {
		// ServiceAccount is the client's JSON as a string, byte for byte:
		// embedded as JSON it would come back compacted.
		ServiceAccount string `json:"serviceAccount"`
		ProjectID      string `json:"projectId"`
		ClientEmail    string `json:"clientEmail"`
	}
	sealedHMS struct {
		AppID     string `json:"appId"`
		AppSecret string `json:"appSecret"`
		PushURL   string `json:"pushUrl"`
		AuthURL   string `json:"authUrl"`
	}
	sealedVAPID struct {
		PublicKey  string `json:"publicKey"`
		PrivateKey string `json:"privateKey"`
		Subject    string `json:"subject"`
	}
)

// MarshalSecret encodes c's typed payload, secrets included, for sealing
// at rest. UnmarshalSecret reverses it. ID and BucketID are not part of it:
// the store keeps them beside the sealed value.
func (c *Credential) MarshalSecret() ([]byte, error) {
	missing := fmt.Errorf("marshal %s credential: no %s payload", c.Type, c.Type)
	switch c.Type {
	case APNSToken:
		if c.APNSToken == nil {
			return nil, missing
		}
		t := c.APNSToken
		return json.Marshal(sealedAPNSToken{Key: t.Key, KeyID: t.KeyID, TeamID: t.TeamID, Topic: t.Topic, Production: t.Production})
	case APNSCert:
		if c.APNSCert == nil {
			return nil, missing
		}
		t := c.APNSCert
		return json.Marshal(sealedAPNSCert{CertPEM: t.CertPEM, KeyPEM: t.KeyPEM, Topic: t.Topic, Production: t.Production})
	case FCMv1:
		if c.FCM == nil {
			return nil, missing
		}
		return json.Marshal(sealedFCM{ServiceAccount: string(c.FCM.ServiceAccountJSON), ProjectID: c.FCM.ProjectID, ClientEmail: c.FCM.ClientEmail})
	case HMS:
		if c.HMS == nil {
			return nil, missing
		}
		h := c.HMS
		return json.Marshal(sealedHMS{AppID: h.AppID, AppSecret: h.AppSecret, PushURL: h.PushURL, AuthURL: h.AuthURL})
	case VAPID:
		if c.VAPID == nil {
			return nil, missing
		}
		v := c.VAPID
		return json.Marshal(sealedVAPID{PublicKey: v.PublicKey, PrivateKey: v.PrivateKey, Subject: v.Subject})
	case WebSocket:
		return []byte("{}"), nil
	}
	return nil, fmt.Errorf("marshal credential: unknown type %q", c.Type)
}

// UnmarshalSecret decodes what MarshalSecret made for a credential of type
// t. It only checks that the secret material is there: it was checked in
// full when the credential was created.
func UnmarshalSecret(t CredentialType, b []byte) (*Credential, error) {
	c := &Credential{Type: t}
	incomplete := fmt.Errorf("unmarshal %s credential: incomplete", t)
	var err error
	switch t {
	case APNSToken:
		var s sealedAPNSToken
		if err = json.Unmarshal(b, &s); err == nil && (s.Key == "" || s.KeyID == "" || s.TeamID == "" || s.Topic == "") {
			return nil, incomplete
		}
		c.APNSToken = &APNSTokenCredential{Key: s.Key, KeyID: s.KeyID, TeamID: s.TeamID, Topic: s.Topic, Production: s.Production}
	case APNSCert:
		var s sealedAPNSCert
		if err = json.Unmarshal(b, &s); err == nil && (s.CertPEM == "" || s.KeyPEM == "" || s.Topic == "") {
			return nil, incomplete
		}
		c.APNSCert = &APNSCertCredential{CertPEM: s.CertPEM, KeyPEM: s.KeyPEM, Topic: s.Topic, Production: s.Production}
	case FCMv1:
		var s sealedFCM
		if err = json.Unmarshal(b, &s); err == nil && (s.ServiceAccount == "" || s.ProjectID == "") {
			return nil, incomplete
		}
		c.FCM = &FCMCredential{ServiceAccountJSON: []byte(s.ServiceAccount), ProjectID: s.ProjectID, ClientEmail: s.ClientEmail}
	case HMS:
		var s sealedHMS
		if err = json.Unmarshal(b, &s); err == nil && (s.AppID == "" || s.AppSecret == "" || s.PushURL == "" || s.AuthURL == "") {
			return nil, incomplete
		}
		c.HMS = &HMSCredential{AppID: s.AppID, AppSecret: s.AppSecret, PushURL: s.PushURL, AuthURL: s.AuthURL}
	case VAPID:
		var s sealedVAPID
		if err = json.Unmarshal(b, &s); err == nil && (s.PublicKey == "" || s.PrivateKey == "") {
			return nil, incomplete
		}
		c.VAPID = &VAPIDCredential{PublicKey: s.PublicKey, PrivateKey: s.PrivateKey, Subject: s.Subject}
	case WebSocket:
		var s struct{}
		err = json.Unmarshal(b, &s)
	default:
		return nil, fmt.Errorf("unmarshal credential: unknown type %q", t)
	}
	if err != nil {
		return nil, fmt.Errorf("unmarshal %s credential: %w", t, err)
	}
	return c, nil
}
